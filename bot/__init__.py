"""The adapters and the composition root: config, clock, the relay (app), and the packages below.

- `bot.cli`: the `minqing` command line;
- `bot.wechat`: the live WeChat connection (Wechaty adapter, supervision, outages);
- `bot.messaging`: transport port, outbox, paced sender, rendering, the job scheduler;
- `bot.sim`: simulated groups, replay and demo;
- `bot.review`: exports and reports for performance reviews;
- `bot.tagging`: the trained category classifier and its training.
"""
