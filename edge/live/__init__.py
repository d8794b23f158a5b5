"""Live view over WebRTC: a browser's offer arrives over RPC, the camera's video leaves over aiortc.

``service.py`` answers offers and keeps the viewers; ``feed.py`` is one camera's shared source;
``tracks.py`` what each viewer's sender pulls; ``decoder.py`` re-encode mode's one decoder per
camera; ``h264.py`` what pass-through must know about the camera's stream.
"""

from edge.live.service import LiveService

__all__ = ["LiveService"]
