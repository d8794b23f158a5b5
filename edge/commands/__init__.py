"""What starts and steers an edge process: the command line, the long-running agent, and the RPCs the centre sends."""
