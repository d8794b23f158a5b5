"""Real parts that tests start and stop themselves: RTSP servers, brokers, scenes."""
