"""The live WeChat connection: the Wechaty adapter, the gateway port, supervision and outages."""
