"""Chat-ops bots: WeChat official account, WeCom app and DingTalk, all ending in models.operations.

``engine`` (dedupe → identity → route → handler, one transaction per message), ``intents``
(ordered routes: Chinese text → typed intent), ``handlers`` and ``entries`` (written once for
every platform), ``wechat`` / ``dingtalk`` (HTTP callbacks), ``stream`` (DingTalk Stream mode),
``push`` (after-commit relay handlers), ``platforms`` (SDK clients behind ``ChatPlatform``).
"""
