//! Where money is spent on campus: canteens, the supermarket, hot water, showers, laundry,
//! printing, the clinic, the self-service kiosk and the card center, with their terminals.

/// A merchant and where its terminals are.
#[derive(Clone, Copy, Debug)]
pub struct Merchant {
    pub id: &'static str,
    pub name: &'static str,
    /// `{n}` is replaced by a window / device number.
    pub location: &'static str,
    pub windows: i64,
}

pub const CANTEENS: &[Merchant] = &[
    Merchant {
        id: "M0101",
        name: "第一食堂",
        location: "第一食堂一楼{n}号窗口",
        windows: 14,
    },
    Merchant {
        id: "M0102",
        name: "第二食堂",
        location: "第二食堂二楼{n}号窗口",
        windows: 12,
    },
    Merchant {
        id: "M0103",
        name: "第三食堂",
        location: "第三食堂{n}号档口",
        windows: 10,
    },
    Merchant {
        id: "M0104",
        name: "第四食堂",
        location: "第四食堂一楼{n}号窗口",
        windows: 12,
    },
    Merchant {
        id: "M0106",
        name: "清真餐厅",
        location: "清真餐厅{n}号窗口",
        windows: 4,
    },
];
pub const STAFF_CANTEEN: Merchant = Merchant {
    id: "M0105",
    name: "教师食堂",
    location: "教师食堂自选餐{n}号台",
    windows: 3,
};
pub const SUPERMARKET: Merchant = Merchant {
    id: "M0201",
    name: "红太阳超市",
    location: "学生活动中心红太阳超市{n}号收银台",
    windows: 4,
};
pub const BAKERY: Merchant = Merchant {
    id: "M0203",
    name: "好利来食品店",
    location: "第二食堂一楼好利来",
    windows: 1,
};
pub const HOT_WATER: Merchant = Merchant {
    id: "M0301",
    name: "开水房",
    location: "{n}号宿舍楼开水房",
    windows: 12,
};
pub const SHOWER: Merchant = Merchant {
    id: "M0302",
    name: "西区浴室",
    location: "西区浴室{n}号水控",
    windows: 40,
};
pub const LAUNDRY: Merchant = Merchant {
    id: "M0303",
    name: "洗衣房",
    location: "{n}号宿舍楼洗衣房",
    windows: 12,
};
pub const PRINTING: Merchant = Merchant {
    id: "M0402",
    name: "文印中心",
    location: "图书馆一楼文印中心",
    windows: 2,
};
pub const CLINIC: Merchant = Merchant {
    id: "M0501",
    name: "校医院",
    location: "校医院收费处",
    windows: 2,
};
pub const KIOSK: Merchant = Merchant {
    id: "M0901",
    name: "自助圈存机",
    location: "第一食堂门口自助圈存机{n}",
    windows: 3,
};
pub const CARD_CENTER: Merchant = Merchant {
    id: "M0900",
    name: "一卡通管理中心",
    location: "行政楼一楼卡务中心",
    windows: 1,
};
