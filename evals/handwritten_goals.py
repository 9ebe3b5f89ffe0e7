"""Goals written by hand, unlike the generator's templates: a check that the planner reads
more than the phrasings it was measured on. Each is (text, background colour, objects),
an object as (colour, shape, position, relation, size) with relation (kind, colour, shape).

Written in batches, each before the planner was run on it, and never changed to suit it:
:data:`HANDWRITTEN` (18/26 read at first), :data:`HANDWRITTEN_MORE` (2/12 at first) and
:data:`HANDWRITTEN_ROUND4` (2/12 at first) were then tuned on; :data:`HANDWRITTEN_HELD_OUT`
is not. ``pakati eval planner`` reports ``handwritten`` (the first three) and
``handwritten_held_out``.
"""

from __future__ import annotations

from typing import Any

Key = tuple[Any, ...]


def _o(
    color: str,
    shape: str,
    position: str | None = None,
    relation: tuple[str, str, str] | None = None,
    size: str | None = None,
) -> Key:
    return (color, shape, position, relation, size)


HANDWRITTEN: list[tuple[str, str, list[Key]]] = [
    (
        "Can you draw me a yellow triangle at the top and a green circle at the bottom? "
        "Make the background black.",
        "black",
        [_o("yellow", "triangle", "top"), _o("green", "circle", "bottom")],
    ),
    (
        "blue square top right, red circle bottom left, white bg",
        "white",
        [_o("blue", "square", "top right"), _o("red", "circle", "bottom left")],
    ),
    (
        "Put two orange circles on the left side, and a purple square on the right. "
        "Background should be white.",
        "white",
        [_o("orange", "circle", "left")] * 2 + [_o("purple", "square", "right")],
    ),
    (
        "A tiny black circle in the centre of a yellow background.",
        "yellow",
        [_o("black", "circle", "centre", size="tiny")],
    ),
    ("Three green triangles on a red background.", "red", [_o("green", "triangle")] * 3),
    (
        "I want a large white square in the lower left corner and a small blue circle above "
        "it, on black.",
        "black",
        [
            _o("white", "square", "bottom left", size="large"),
            _o("blue", "circle", None, ("above", "white", "square"), "small"),
        ],
    ),
    (
        "Red circle, blue square and green triangle from left to right on white.",
        "white",
        [
            _o("red", "circle", "left"),
            _o("blue", "square", "centre"),
            _o("green", "triangle", "right"),
        ],
    ),
    (
        "Draw a purple circle. It should be in the top left corner. The background is orange.",
        "orange",
        [_o("purple", "circle", "top left")],
    ),
    (
        "Make an image with a green background. In the middle there should be a big yellow circle.",
        "green",
        [_o("yellow", "circle", "centre", size="large")],
    ),
    (
        "Upper right: small white triangle. Lower left: big black square. Blue background.",
        "blue",
        [
            _o("white", "triangle", "top right", size="small"),
            _o("black", "square", "bottom left", size="large"),
        ],
    ),
    (
        "please draw a small orange triangle under a big purple circle, background: yellow",
        "yellow",
        [
            _o("orange", "triangle", None, ("below", "purple", "circle"), "small"),
            _o("purple", "circle", size="large"),
        ],
    ),
    (
        "Green background with one white circle right in the middle.",
        "green",
        [_o("white", "circle", "centre")],
    ),
    (
        "Generate: black square (top), white square (bottom), on a red background",
        "red",
        [_o("black", "square", "top"), _o("white", "square", "bottom")],
    ),
    (
        "There should be a blue dot in the top right corner and another blue dot in the "
        "bottom left corner. Everything on white.",
        "white",
        [_o("blue", "circle", "top right"), _o("blue", "circle", "bottom left")],
    ),
    (
        "I need four circles: red, blue, green and yellow, on a black background.",
        "black",
        [_o("red", "circle"), _o("blue", "circle"), _o("green", "circle"), _o("yellow", "circle")],
    ),
    (
        "Small purple square in the upper left, small purple square in the upper right, "
        "black background",
        "black",
        [
            _o("purple", "square", "top left", size="small"),
            _o("purple", "square", "top right", size="small"),
        ],
    ),
    (
        "Show a white circle below a black triangle, both on an orange background.",
        "orange",
        [_o("white", "circle", None, ("below", "black", "triangle")), _o("black", "triangle")],
    ),
    (
        "Could you please paint a blue triangle at the very top of the picture with a green "
        "circle beneath it on a white background?",
        "white",
        [_o("blue", "triangle", "top"), _o("green", "circle", None, ("below", "blue", "triangle"))],
    ),
    (
        "the background: black. objects: white square in the middle, red circle top-left",
        "black",
        [_o("white", "square", "centre"), _o("red", "circle", "top left")],
    ),
    (
        "A scene with a big green square on the right half and a little orange circle to its "
        "left, against a blue background.",
        "blue",
        [
            _o("green", "square", "right", size="large"),
            _o("orange", "circle", None, ("left_of", "green", "square"), "small"),
        ],
    ),
    (
        "Draw 2 red triangles at the top and 2 blue circles at the bottom, on white",
        "white",
        [_o("red", "triangle", "top")] * 2 + [_o("blue", "circle", "bottom")] * 2,
    ),
    (
        "Make a white background and put a black circle in the top-left and a black square in "
        "the bottom-right.",
        "white",
        [_o("black", "circle", "top left"), _o("black", "square", "bottom right")],
    ),
    (
        "In the center, a large blue circle. Above it, a small red triangle. The background is "
        "yellow.",
        "yellow",
        [
            _o("blue", "circle", "centre", size="large"),
            _o("red", "triangle", None, ("above", "blue", "circle"), "small"),
        ],
    ),
    (
        "Picture: purple triangle on the left, orange square on the right. Backdrop: white.",
        "white",
        [_o("purple", "triangle", "left"), _o("orange", "square", "right")],
    ),
    (
        "Give me an image where a green circle is above a red square, and the red square is in "
        "the bottom right corner; background black",
        "black",
        [
            _o("green", "circle", None, ("above", "red", "square")),
            _o("red", "square", "bottom right"),
        ],
    ),
    (
        "a black triangle at the top left, a white triangle at the top right, both small, on a "
        "red background",
        "red",
        [
            _o("black", "triangle", "top left", size="small"),
            _o("white", "triangle", "top right", size="small"),
        ],
    ),
]

HANDWRITTEN_MORE: list[tuple[str, str, list[Key]]] = [
    # Written with the third round of styles; read 2/12 at first, then tuned on.
    (
        "ok so: big red circle bottom middle. small blue triangle sitting right on top of it. "
        "sky blue background",
        "blue",
        [
            _o("red", "circle", "bottom", size="large"),
            _o("blue", "triangle", None, ("above", "red", "circle"), "small"),
        ],
    ),
    (
        "Two yellow squares side by side in the middle of a purple background",
        "purple",
        [_o("yellow", "square", "centre")] * 2,
    ),
    (
        "Fill the background with green. Then put a white triangle in each top corner.",
        "green",
        [_o("white", "triangle", "top left"), _o("white", "triangle", "top right")],
    ),
    (
        "I'd like a composition of three shapes on black: a red square on the far left, an "
        "orange circle in the middle and a yellow triangle on the far right.",
        "black",
        [
            _o("red", "square", "left"),
            _o("orange", "circle", "centre"),
            _o("yellow", "triangle", "right"),
        ],
    ),
    (
        "A green circle towards the top of the frame, and beneath it a slightly smaller purple "
        "circle; white background please",
        "white",
        [_o("green", "circle", "top"), _o("purple", "circle", None, ("below", "green", "circle"))],
    ),
    (
        "Make the bottom left corner have a tiny orange square. Everything else is empty, on a "
        "blue background.",
        "blue",
        [_o("orange", "square", "bottom left", size="tiny")],
    ),
    (
        "Could you create a white background with a black triangle at the top, a black circle "
        "at the bottom and a black square between them?",
        "white",
        [
            _o("black", "triangle", "top"),
            _o("black", "circle", "bottom"),
            _o("black", "square", "centre"),
        ],
    ),
    (
        "Centre: huge red circle. Corners: none. Background: yellow.",
        "yellow",
        [_o("red", "circle", "centre", size="huge")],
    ),
    (
        "A blue square with a red circle to its right, both sitting in the lower half. Orange bg.",
        "orange",
        [
            _o("blue", "square", "bottom"),
            _o("red", "circle", "bottom", ("right_of", "blue", "square")),
        ],
    ),
    (
        "on a white background, draw a green triangle in the upper-left, a green triangle in "
        "the upper-right, and a big green triangle below both of them in the center",
        "white",
        [
            _o("green", "triangle", "top left"),
            _o("green", "triangle", "top right"),
            _o("green", "triangle", "centre", size="large"),
        ],
    ),
    (
        "Give me one purple circle. Put it on the right side. Background should be orange.",
        "orange",
        [_o("purple", "circle", "right")],
    ),
    (
        "a little white dot near the top right and a big black box near the bottom left, red "
        "background",
        "red",
        [
            _o("white", "circle", "top right", size="small"),
            _o("black", "square", "bottom left", size="large"),
        ],
    ),
]

HANDWRITTEN_ROUND4: list[tuple[str, str, list[Key]]] = [
    # Written with the fourth round of styles; held out until the fifth round was written.
    (
        "hey can u do a blue circle in the top right n a red square bottom left? white bg",
        "white",
        [_o("blue", "circle", "top right"), _o("red", "square", "bottom left")],
    ),
    (
        "I'm picturing a black background with a single white circle floating near the top, "
        "kind of like a moon.",
        "black",
        [_o("white", "circle", "top")],
    ),
    (
        "Draw three triangles in a row across the middle: green, yellow and purple, from left "
        "to right. Background orange.",
        "orange",
        [
            _o("green", "triangle", "left"),
            _o("yellow", "triangle", "centre"),
            _o("purple", "triangle", "right"),
        ],
    ),
    (
        "Top half: a big blue square. Bottom half: a small red circle. The rest should be white.",
        "white",
        [_o("blue", "square", "top", size="large"), _o("red", "circle", "bottom", size="small")],
    ),
    (
        "A purple triangle pointing up, centred, on a green background - make it fairly large.",
        "green",
        [_o("purple", "triangle", "centre", size="large")],
    ),
    (
        "Put an orange circle on the left and a matching orange circle on the right, with a "
        "black square in between. Yellow background.",
        "yellow",
        [
            _o("orange", "circle", "left"),
            _o("orange", "circle", "right"),
            _o("black", "square", "centre"),
        ],
    ),
    (
        "Image of a white square above a black square above a red square, all in the middle "
        "column, on blue",
        "blue",
        [
            _o("white", "square", None, ("above", "black", "square")),
            _o("black", "square", None, ("above", "red", "square")),
            _o("red", "square"),
        ],
    ),
    (
        "A green circle. A yellow circle to the right of the green one. Both small. Red "
        "background.",
        "red",
        [
            _o("green", "circle", size="small"),
            _o("yellow", "circle", None, ("right_of", "green", "circle"), "small"),
        ],
    ),
    (
        "Can I have a huge yellow circle taking up most of the picture, with a tiny black dot in "
        "the top left? Purple behind everything.",
        "purple",
        [_o("yellow", "circle", size="huge"), _o("black", "circle", "top left", size="tiny")],
    ),
    (
        "bottom right corner -> small white triangle; top left corner -> small white triangle; "
        "bg black",
        "black",
        [
            _o("white", "triangle", "bottom right", size="small"),
            _o("white", "triangle", "top left", size="small"),
        ],
    ),
    (
        "The picture should show a red square on the left side and, to the right of it, a blue "
        "triangle. Use white for the background.",
        "white",
        [_o("red", "square", "left"), _o("blue", "triangle", None, ("right_of", "red", "square"))],
    ),
    (
        "No background colour other than green. Objects: one orange square at the bottom and "
        "one white circle at the top.",
        "green",
        [_o("orange", "square", "bottom"), _o("white", "circle", "top")],
    ),
]

HANDWRITTEN_HELD_OUT: list[tuple[str, str, list[Key]]] = [
    # Written with the fifth round of styles; the planner is not changed for these.
    (
        "masterpiece, best quality, red circle, top left, blue square, bottom right, "
        "yellow background",
        "yellow",
        [_o("red", "circle", "top left"), _o("blue", "square", "bottom right")],
    ),
    (
        "The top right corner has a small golden triangle. Everything else is navy.",
        "blue",
        [_o("yellow", "triangle", "top right", size="small")],
    ),
    (
        "Top row: a white square on the left and a white circle on the right. Bottom row: a "
        "black triangle in the middle. Background: orange.",
        "orange",
        [
            _o("white", "square", "top left"),
            _o("white", "circle", "top right"),
            _o("black", "triangle", "bottom"),
        ],
    ),
    (
        "## Scene\n- **Background:** green\n- **Objects:**\n  - purple circle — centre\n"
        "  - (tiny) yellow square, top left",
        "green",
        [_o("purple", "circle", "centre"), _o("yellow", "square", "top left", size="tiny")],
    ),
    (
        "For my slides: an orange circle on the left (that's the sun) and a big green "
        "triangle on the right (the mountain), white background.",
        "white",
        [_o("orange", "circle", "left"), _o("green", "triangle", "right", size="large")],
    ),
    (
        "Below a crimson square, put a lilac circle. Backdrop: jet black.",
        "black",
        [_o("purple", "circle", None, ("below", "red", "square")), _o("red", "square")],
    ),
    (
        "(blue triangle:1.3), centre, (orange bg:1.1)",
        "orange",
        [_o("blue", "triangle", "centre")],
    ),
    (
        "I'd love a scarlet circle bottom left and an emerald square to its right, on ivory.",
        "white",
        [
            _o("red", "circle", "bottom left"),
            _o("green", "square", None, ("right_of", "red", "circle")),
        ],
    ),
    (
        "In the bottom right: a huge black circle. In the top left: a tiny white one. Purple "
        "behind.",
        "purple",
        [
            _o("black", "circle", "bottom right", size="huge"),
            _o("white", "circle", "top left", size="tiny"),
        ],
    ),
    (
        "middle row -> yellow square left, red square centre, blue square right; bg white",
        "white",
        [
            _o("yellow", "square", "left"),
            _o("red", "square", "centre"),
            _o("blue", "square", "right"),
        ],
    ),
]
