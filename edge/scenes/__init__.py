"""Labelled scenes with a known truth, composed from real frames: the evaluation suite's generator
(``python -m edge.scenes --out DIR``). ``footage`` gives real pixels and writes recordings,
``effects`` changes views (dust, fog, light, clouds, structures, passers-by), ``kinds`` makes
scenes of them, ``suite`` lists the scenes and writes the suite."""
