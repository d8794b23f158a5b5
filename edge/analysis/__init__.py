"""What a frame shows: detection, tracking, zones, and the image measures (haze, structure, references) rules share."""
