"""How much memory a dataset needs, counted from its arguments before anything is drawn.

A dataset of n images of S x S pixels returns n S² float32 numbers, and drawing them takes a few
more image-sized arrays for each image of the chunk being drawn (masks, coordinates, noise). The
check here counts those bytes from the arguments alone, in Python ints (so n = 2**63 and beyond
count right), and refuses, naming the argument, a dataset this machine cannot hold: at once,
before the first loop or allocation, never after gigabytes were taken or with numpy's
"Maximum allowed dimension exceeded", which names no argument.
"""

from tinycnn import checks

CALL_BYTES = 2**20
"""Bytes any call takes whatever its size: the generator, pixel grids, small arrays (0.1 MB
measured)."""

ROW_BYTES = 128
"""Bytes per image besides its pixels: its target vector, box, label and class index."""


def check_dataset_fits(
    n, height, width, working, chunk=None, row_bytes=ROW_BYTES, size="image_size"
):
    """Refuse n images of height x width float32 pixels that, drawn `chunk` at a time (None: all
    at once) with `working` image-sized float32 arrays per image being drawn, need more memory
    than this machine holds; return the bytes needed. The message names `size` (the argument that
    sets the image size) when a single image is already too much, and n otherwise."""
    n = checks.non_negative_int(n, "n")
    height, width = checks.positive_int(height, "height"), checks.positive_int(width, "width")
    working = checks.non_negative_int(working, "working")
    chunk = None if chunk is None else checks.positive_int(chunk, "chunk")
    row_bytes = checks.non_negative_int(row_bytes, "row_bytes")
    if not isinstance(size, str):
        raise TypeError(f"size must be the name of an argument (a string), got {size!r}")
    image_bytes = 4 * height * width

    def needed(count, drawn_at_once):
        return image_bytes * (count + working * drawn_at_once) + row_bytes * count + CALL_BYTES

    if needed(1, 1) > checks.memory_bytes():
        checks.fits_in_memory(
            needed(1, 1), size, f"one image of {height}x{width} pixels (float32, as it is drawn)"
        )
    at_once = n if chunk is None else min(n, chunk)
    return checks.fits_in_memory(
        needed(n, at_once),
        "n",
        f"{n:,} images of {height}x{width} pixels (float32, with the arrays that draw them)",
    )
