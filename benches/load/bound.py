#!/usr/bin/env python3
"""Bind N demo users through the real chat flow, then write a benches/load/harness-format corpus of
campus queries (余额, 流水, 卡片信息, 借阅, 成绩) from those bound users, safe mode, encrypted with
wechatpy (independent of the server). Then check a sample of replies.

usage: bound.py BASE_URL --users N --n REQUESTS --out CORPUS [--check 30]
"""
import argparse, base64, hashlib, random, re, sys, time
import requests
from wechatpy.crypto import PrpCrypto, WeChatCrypto

TOKEN, APPID, AESKEY = "benchtoken", "wxbench0000000001", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
GH = "gh_benchmark0001"
QUERIES = [("余额", "余额为"), ("余额", "余额为"), ("余额", "余额为"), ("流水", "笔交易"),
           ("卡片信息", "持卡人"), ("借阅", "图书"), ("成绩", "成绩")]


def plain_query(ts, nonce, openid):
    sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce])).encode()).hexdigest()
    return f"signature={sig}&timestamp={ts}&nonce={nonce}&openid={openid}"


def text_xml(openid, text, msg_id, ts):
    return (f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def say(s, base, openid, text, msg_id):
    ts = str(int(time.time()))
    r = s.post(f"{base}/wechat?{plain_query(ts, str(msg_id), openid)}", data=text_xml(openid, text, msg_id, ts).encode())
    r.raise_for_status()
    m = re.search(r"<Content><!\[CDATA\[(.*?)\]\]></Content>", r.text, re.S)
    return m.group(1) if m else r.text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--n", type=int, default=300000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", type=int, default=30)
    a = ap.parse_args()
    s = requests.Session()
    accounts = s.get(f"{a.base}/sim/card/accounts?limit={a.users * 3}").json()
    accounts = [x for x in accounts if x["status"] == "normal" and x.get("phone")][: a.users]
    assert len(accounts) == a.users, f"only {len(accounts)} bindable accounts"
    msg = 8_000_000_000_000_000_000
    started = time.time()
    for i, acct in enumerate(accounts):
        openid = "oBound%06d" % i
        msg += 3
        say(s, a.base, openid, "绑定", msg)
        say(s, a.base, openid, acct["id"], msg + 1)
        sms = s.get(f"{a.base}/sim/sms/outbox?phone={acct['phone']}").json()
        code = re.search(r"(\d{6})", sms[-1]["text"]).group(1)
        done = say(s, a.base, openid, code, msg + 2)
        assert "绑定成功" in done, done
    print(f"bound {a.users} users in {time.time() - started:.1f} s", file=sys.stderr)

    prp = PrpCrypto(base64.b64decode(AESKEY + "="))
    rnd = random.Random(7)
    ts = str(int(time.time()))
    with open(a.out, "w", encoding="utf-8") as f, open(a.out + ".expect", "w", encoding="utf-8") as e:
        for i in range(a.n):
            openid = "oBound%06d" % rnd.randrange(a.users)
            text, expect = rnd.choice(QUERIES)
            xml = text_xml(openid, text, 9_000_000_000_000_000_000 + i, ts)
            nonce = str(rnd.randrange(10 ** 9, 10 ** 10))
            enc = prp.encrypt(xml, APPID)
            enc = enc.decode() if isinstance(enc, bytes) else enc
            msig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce, enc])).encode()).hexdigest()
            q = plain_query(ts, nonce, openid) + f"&encrypt_type=aes&msg_signature={msig}"
            body = f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
            f.write(f"/wechat?{q}\t{body}\n")
            e.write(f"{openid}\t{expect}\n")

    # Check a sample one by one, decrypting with wechatpy.
    crypto = WeChatCrypto(TOKEN, AESKEY, APPID)
    lines = open(a.out, encoding="utf-8").read().splitlines()[-a.check:]
    expects = open(a.out + ".expect", encoding="utf-8").read().splitlines()[-a.check:]
    ok = bad = 0
    for line, exp in zip(lines, expects):
        path, body = line.split("\t", 1)
        r = s.post(a.base + path, data=body.encode())
        q = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
        try:
            reply = crypto.decrypt_message(r.text, re.search(r"<MsgSignature><!\[CDATA\[(\w+)", r.text).group(1),
                                           re.search(r"<TimeStamp>(\d+)", r.text).group(1),
                                           re.search(r"<Nonce><!\[CDATA\[(\w+)", r.text).group(1))
            content = re.search(r"<Content><!\[CDATA\[(.*?)\]\]>", reply, re.S).group(1)
            assert exp.split("\t")[1] in content, content
            ok += 1
        except Exception as ex:  # noqa: BLE001
            bad += 1
            print("check failed:", ex, r.text[:200], file=sys.stderr)
    print(f"{ok} passed, {bad} failed")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
