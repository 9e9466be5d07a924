"""Local stand-ins for WeChat's and DingTalk's servers, speaking their documented protocols.

Tests (and a developer without credentials) start a StubServer and point the REAL SDK clients
at it: wechatpy through `redirect_requests_session`, alibabacloud-dingtalk through
`Config(protocol="http", endpoint=server.netloc)`. Each platform feature adds its routes in
its own module (devstubs/wechat.py, devstubs/dingtalk.py, …).
"""
