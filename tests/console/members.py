"""The demo members' phones (the development login signs in by phone)."""

PHONES = {"小周": "13900000001", "老孙": "13900000002", "赵经理": "13900000003", "钱总监": "13900000004",
          "吴会计": "13900000005", "王阿姨": "13800000001"}
