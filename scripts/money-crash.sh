#!/usr/bin/env bash
# Money under crashes and faults, through real processes (`onecard sim` and `onecard serve`):
#
#   crash  many users top up and pay over the real callback while the server is SIGKILLed
#          and restarted (default 250 users, 6 errands each, 5 kills: over 1,000 orders);
#   soak   the same with a fifth of the money calls to the bank, the card system and the
#          billers failing (hung, refused, or committed with the answer lost; default 250
#          users, 10 errands each: over 2,000 orders).
#
# Each checks that every order ended (or waits for a person), that every user's money over
# bank, card and billers balances to the fen with our orders, and that reconciliation of the
# day leaves no unexplained difference; each ends with a "== money run summary ==" block (orders
# by kind and final state, kills, money moved per party, reconciliation classes) to paste.
#
#   scripts/money-crash.sh [crash|soak|both]     (default: both)
#   MONEY_USERS=100 MONEY_ORDERS_PER_USER=4 MONEY_KILLS=3 MONEY_FAULT_RATE=0.2 scripts/money-crash.sh crash
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-both}" in
  crash) filter=money_balances_to_the_fen_across_sigkills_of_the_server ;;
  soak) filter=money_balances_to_the_fen_with_a_fifth_of_upstream_calls_failing ;;
  both) filter=money_balances_to_the_fen ;;
  *) echo "usage: $0 [crash|soak|both]" >&2; exit 2 ;;
esac
exec nice -n 19 cargo test --locked --release --test api "$filter" -- --ignored --nocapture --test-threads 1
