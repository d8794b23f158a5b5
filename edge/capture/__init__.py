"""Where a frame comes from: the camera reader, the ring of encoded packets behind every clip, the decoded frame."""
