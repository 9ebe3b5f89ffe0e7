"""The offline planner reads goals as people write them, and ``pakati eval planner`` measures it.

One hard phrasing per tuned style is read exactly; the eval's generator is deterministic and
its truths are consistent; the eval scores wrong readings as wrong; and on a small seeded
sample the planner keeps the accuracy measured when this test was written.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from pakati.agents.offline import plan_from_goal
from pakati.agents.spatial import ObjectPhrase, ParsedGoal, parse_goal
from pakati.cli import main as cli_main
from pakati.evals.phrasing_styles import ALL_STYLES, HELD_OUT_STYLES, STYLES, render
from pakati.evals.phrasings import CELLS, sample_goal
from pakati.evals.planner_eval import check, parsed_keys, run_planner_eval
from pakati_engine.errors import InvalidInputError
from pakati_engine.world.colors import article
from tests.test_cli_startup import heavy, run_python

TL, TR, BL, BR = "top left", "top right", "bottom left", "bottom right"

# (style, text, background colour, objects as (colour, shape, position, relation, size))
HARD = [
    (
        "plain",
        "A tiny purple triangle in the bottom-left corner; a huge yellow triangle dead center, "
        "just right of the purple triangle, and an orange triangle higher than the purple "
        "triangle with a white background",
        "white",
        [
            ("purple", "triangle", BL, None, "tiny"),
            ("yellow", "triangle", "centre", ("right_of", "purple", "triangle"), "huge"),
            ("orange", "triangle", None, ("above", "purple", "triangle"), None),
        ],
    ),
    (
        "imperative",
        "Can you paint 2 red circles on the right in the middle and a blue box right in the "
        "middle, on an orange background?",
        "orange",
        [("red", "circle", "right", None, None)] * 2 + [("blue", "square", "centre", None, None)],
    ),
    (
        "background_first",
        "Start with a green background and add a white square in the upper-left corner and a "
        "little red disc on the left side of the image, underneath the white square.",
        "green",
        [
            ("white", "square", TL, None, None),
            ("red", "circle", "left", ("below", "white", "square"), "small"),
        ],
    ),
    (
        "background_sentence",
        "Please make a black circle at the top centre, and a huge black triangle in the "
        "bottom left. Make the background green.",
        "green",
        [("black", "circle", "top", None, None), ("black", "triangle", BL, None, "huge")],
    ),
    (
        "sentences",
        "There is a tiny purple triangle in the bottom left corner. There is a huge yellow "
        "triangle in the center, to the right of it. Make the background white.",
        "white",
        [
            ("purple", "triangle", BL, None, "tiny"),
            ("yellow", "triangle", "centre", ("right_of", "purple", "triangle"), "huge"),
        ],
    ),
    (
        "list",
        "Background: black\nObjects:\n1. green square - top-left corner\n2. a tiny white box "
        "underneath the green square\n3. 2 orange circles (bottom center)",
        "black",
        [
            ("green", "square", TL, None, None),
            ("white", "square", None, ("below", "green", "square"), "tiny"),
        ]
        + [("orange", "circle", "bottom", None, None)] * 2,
    ),
    (
        "position_first",
        "Top-right corner: a blue triangle. A purple square under the blue triangle. Top: a "
        "huge blue circle right of the purple square. The whole background is red.",
        "red",
        [
            ("blue", "triangle", TR, None, None),
            ("purple", "square", None, ("below", "blue", "triangle"), None),
            ("blue", "circle", "top", ("right_of", "purple", "square"), "huge"),
        ],
    ),
    (
        "synonyms",
        "A yellow ball in the middle of the left side; a white disc in the top half and a "
        "green box dead center with a red background.",
        "red",
        [
            ("yellow", "circle", "left", None, None),
            ("white", "circle", "top", None, None),
            ("green", "square", "centre", None, None),
        ],
    ),
    (
        "two_pass",
        "Draw a black triangle, an orange box, and two red squares. The black triangle goes in "
        "the middle and put the orange square higher than the triangle. The red squares go at "
        "the bottom. Background yellow.",
        "yellow",
        [
            ("black", "triangle", "centre", None, None),
            ("orange", "square", None, ("above", "black", "triangle"), None),
        ]
        + [("red", "square", "bottom", None, None)] * 2,
    ),
    (
        "casual",
        "3 purple squares top middle + black rectangle lower left - orange bg pls",
        "orange",
        [("purple", "square", "top", None, None)] * 3 + [("black", "square", BL, None, None)],
    ),
    (
        "elliptic",
        "A black triangle in the centre of the image with an orange square directly above it, "
        "a red one just right of the triangle against a yellow background.",
        "yellow",
        [
            ("black", "triangle", "centre", None, None),
            ("orange", "square", None, ("above", "black", "triangle"), None),
            ("red", "square", None, ("right_of", "black", "triangle"), None),
        ],
    ),
    (
        "chatty",
        "Hi, I'm making a poster for my class. Can I get a small red circle in the bottom "
        "right corner and a tiny yellow circle top left? The background can be purple. Cheers",
        "purple",
        [("red", "circle", BR, None, "small"), ("yellow", "circle", TL, None, "tiny")],
    ),
    (
        "story",
        "Imagine a red canvas. In the top right corner lies a blue triangle. Directly below it "
        "floats a purple rectangle.",
        "red",
        [
            ("blue", "triangle", TR, None, None),
            ("purple", "square", None, ("below", "blue", "triangle"), None),
        ],
    ),
    (
        "spec",
        "Square(white, right side); 2 x triangle(black, bottom middle, huge); "
        "circle(white, lower right, directly below white square); bg = yellow",
        "yellow",
        [("white", "square", "right", None, None)]
        + [("black", "triangle", "bottom", None, "huge")] * 2
        + [("white", "circle", BR, ("below", "white", "square"), None)],
    ),
    (
        "negations",
        "I want a little red dot in the lower-right corner (not the top left!) and a tiny "
        "yellow circle in the top left corner. The background should be purple, not green. "
        "Nothing else.",
        "purple",
        [("red", "circle", BR, None, "small"), ("yellow", "circle", TL, None, "tiny")],
    ),
    (
        "counts",
        "Two little white squares, both at the bottom, and a single huge red circle on the "
        "right side of the picture, green background",
        "green",
        [("white", "square", "bottom", None, "small")] * 2
        + [("red", "circle", "right", None, "huge")],
    ),
    (
        "sloppy",
        "A tiny PURPLE triangle at the lower lfet,a huge yelow traingle in the very CENTRE,on  "
        "a plain white backgroud",
        "white",
        [("purple", "triangle", BL, None, "tiny"), ("yellow", "triangle", "centre", None, "huge")],
    ),
    (
        "questions",
        "Is it possible to get three purple squares up top? What about orange for the background?",
        "orange",
        [("purple", "square", "top", None, None)] * 3,
    ),
    (
        "steps",
        "First, paint the background red. Then, place a blue triangle in the top right corner. "
        "Next, add a purple square beneath the blue triangle. Finally, put a huge blue circle "
        "up top.",
        "red",
        [
            ("blue", "triangle", TR, None, None),
            ("purple", "square", None, ("below", "blue", "triangle"), None),
            ("blue", "circle", "top", None, "huge"),
        ],
    ),
    (
        "grouped",
        "Two circles, purple (in the top left-hand corner); blue at the bottom just right of "
        "the purple circle, and three triangles: one tiny white down in the bottom left, a "
        "green one at the top and red (centred), orange background.",
        "orange",
        [
            ("purple", "circle", TL, None, None),
            ("blue", "circle", "bottom", ("right_of", "purple", "circle"), None),
            ("white", "triangle", BL, None, "tiny"),
            ("green", "triangle", "top", None, None),
            ("red", "triangle", "centre", None, None),
        ],
    ),
    (
        "regions",
        "A little red disc tucked into the bottom right; three purple boxes against the left "
        "edge and a green triangle in the upper-left quadrant on white",
        "white",
        [("red", "circle", BR, None, "small"), ("green", "triangle", TL, None, None)]
        + [("purple", "square", "left", None, None)] * 3,
    ),
    (
        "json",
        '{"objects": [{"shape": "dot", "colour": "black", "count": 2, "pos": "top middle"}, '
        '{"shape": "triangle", "color": "orange", "size": "tiny", "location": "lower left", '
        '"relation": "directly below the black circle"}], "background": "white"}',
        "white",
        [("black", "circle", "top", None, None)] * 2
        + [("orange", "triangle", BL, ("below", "black", "circle"), "tiny")],
    ),
    (
        "adjectives",
        "A bold, little, red dot at the bottom right, three solid, blue triangles on the left "
        "and a filled red ball in the centre with a shiny green square on the left of the disc, "
        "purple background.",
        "purple",
        [("red", "circle", BR, None, "small"), ("red", "circle", "centre", None, None)]
        + [("blue", "triangle", "left", None, None)] * 3
        + [("green", "square", None, ("left_of", "red", "circle"), None)],
    ),
]


@pytest.mark.parametrize(
    ("style", "text", "background", "objects"), HARD, ids=[case[0] for case in HARD]
)
def test_a_hard_phrasing_of_each_style_is_read_exactly(style, text, background, objects):
    assert style in STYLES
    parsed = parse_goal(text)
    assert Counter(parsed_keys(parsed)) == Counter(objects)
    assert parsed.base_prompt == f"{article(background)} {background} background"
    names = [o.name for o in parsed.objects]
    assert len(set(names)) == len(names)


def test_counted_objects_become_regions_that_do_not_overlap():
    plan = plan_from_goal("Three purple squares at the top and a red circle, white bg", 128, 128)
    assert sorted(r.name for r in plan.regions) == [
        "purple-square",
        "purple-square-2",
        "purple-square-3",
        "red-circle",
    ]
    assert {r.prompt for r in plan.regions} == {"a purple square", "a red circle"}
    boxes = [r.bounds for r in plan.regions]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


@pytest.mark.parametrize(
    "text",
    [
        "a row of three shapes from left to right: a green square, a blue square and a purple "
        "circle, on a yellow background",
        "A green square, a blue square and a purple circle in a row. Yellow background.",
    ],
)
def test_a_row_of_three_goes_left_to_right(text):
    parsed = parse_goal(text)
    assert [(o.color, o.shape, o.position) for o in parsed.objects] == [
        ("green", "square", "left"),
        ("blue", "square", "centre"),
        ("purple", "circle", "right"),
    ]
    assert parsed.base_prompt == "a yellow background"


@pytest.mark.parametrize(
    ("text", "positions"),
    [
        ("Three triangles in a row across the top: green, yellow and purple.", [TL, "top", TR]),
        ("Two circles along the bottom from left to right, red and blue.", [BL, BR]),
        ("Three squares in the middle from left to right: red, blue, green", None),
    ],
)
def test_a_row_on_a_named_line_is_spread_along_that_line(text, positions):
    parsed = parse_goal(text)
    expected = positions or ["left", "centre", "right"]
    assert [o.position for o in parsed.objects] == expected
    assert len({o.color for o in parsed.objects}) == len(expected)


def test_comparisons_and_asides_about_the_user_name_no_object():
    parsed = parse_goal(
        "I'm picturing a black background with a single white circle floating near the top, "
        "kind of like a moon."
    )
    assert parsed_keys(parsed) == [("white", "circle", "top", None, None)]
    assert parsed.base_prompt == "a black background"


def test_a_relation_to_it_before_its_object_belongs_to_that_object():
    parsed = parse_goal("A red square on the left and, to the right of it, a blue triangle.")
    assert Counter(parsed_keys(parsed)) == Counter(
        [
            ("red", "square", "left", None, None),
            ("blue", "triangle", None, ("right_of", "red", "square"), None),
        ]
    )


def test_json_that_is_not_a_goal_is_read_as_text_or_refused():
    from pakati.agents.goal_json import goal_from_json

    assert goal_from_json("[1, 2") is None  # not valid JSON: read as words
    assert goal_from_json('"a red circle"') is None  # a JSON string is just text
    for nothing in ('{"title": "x"}', "[1, 2]", "{}", '{"objects": []}'):
        with pytest.raises(InvalidInputError, match="names an object or a background"):
            goal_from_json(nothing)
    assert goal_from_json('{"goal": "a red circle on the left"}') == "a red circle on the left"
    assert goal_from_json('[{"shape": "box", "colour": "red"}, "a blue circle"]') == (
        "red box. a blue circle."
    )
    parsed = parse_goal('{"bg": {"colour": "green"}, "shapes": [{"type": "square", "n": 3}]}')
    assert parsed.base_prompt == "a green background"
    assert [o.shape for o in parsed.objects] == ["square"] * 3


def test_words_that_only_look_like_the_vocabulary_are_left_alone():
    # "light" is not "right", "back" is not "black", a top hat is not at the top
    parsed = parse_goal("a man in a top hat, light blue background")
    man = parsed.objects[0]
    assert man.position is None and man.prompt == "a man top hat"
    assert parsed.base_prompt == "a blue background"
    assert parse_goal("a boat in the back").objects[0].color is None


# The generator and the measure ------------------------------------------------------------------


def test_the_generator_is_deterministic_and_its_truths_are_consistent():
    for index in range(30):
        goal = sample_goal(random.Random(f"7:{index}"))
        again = sample_goal(random.Random(f"7:{index}"))
        assert goal == again
        assert 1 <= sum(item.count for item in goal.items) <= 6
        assert goal.background not in {item.color for item in goal.items}
        for item in goal.items:
            if item.relation is None or item.position is None:
                continue
            other = goal.items[item.relation[1]]
            if other.position is None:
                continue
            (ax, ay), (bx, by) = CELLS[item.position], CELLS[other.position]
            kind = item.relation[0]
            assert {"above": ay < by, "below": ay > by, "left_of": ax < bx, "right_of": ax > bx}[
                kind
            ]
        texts = {render(goal, s, random.Random(f"7:{index}:{s}")) for s in ALL_STYLES}
        assert texts == {render(goal, s, random.Random(f"7:{index}:{s}")) for s in ALL_STYLES}


def test_the_measure_counts_a_wrong_reading_as_wrong():
    goal = sample_goal(random.Random("0:3"))  # three triangles, positions and relations
    text = render(goal, "plain", random.Random("0:3:plain"))
    parsed = parse_goal(text)
    assert all(check(goal, parsed).values())
    moved = [ObjectPhrase(**{**vars(o), "position": "top"}) for o in parsed.objects]
    assert not check(goal, ParsedGoal(parsed.base_prompt, moved))["positions"]
    assert not check(goal, ParsedGoal("a black background", parsed.objects))["background"]
    assert not check(goal, ParsedGoal(parsed.base_prompt, parsed.objects[1:]))["objects"]


def test_the_eval_keeps_the_accuracy_measured_on_a_seeded_sample():
    """Measured when written (n=40, seed 0, 1160 phrasings): accuracy 0.8267, tuned styles
    (rounds 1-4) 1.0 each, held-out styles (round 5) 0.1625, hand-written 0.98 (50 goals),
    held-out hand-written 0.2. The eval is deterministic (seeded generator, rule-based
    parser), so the margins are not for noise: they let a change elsewhere in the planner
    trade a phrasing or two (0.01 of 1160 is about 12 phrasings; 0.02 of the 240 held-out
    ones about 5) without failing here, while a real regression still does."""
    summary, cases = run_planner_eval(40, 0)
    assert summary["n"] == 40 and summary["phrasings"] == 40 * len(ALL_STYLES) == len(cases)
    assert summary["accuracy"] >= 0.8267 - 0.01
    assert min(summary["styles"][s] for s in STYLES) >= 0.97
    assert summary["held_out"] >= 0.1625 - 0.02
    assert summary["handwritten"] >= 0.97
    assert summary["handwritten_held_out"] >= 0.2 - 0.01
    assert set(summary["styles"]) == set(ALL_STYLES) and set(HELD_OUT_STYLES) < set(ALL_STYLES)


# The command ------------------------------------------------------------------------------------


def test_pakati_eval_planner_prints_its_summary_as_the_last_line(capsys):
    assert cli_main(["eval", "planner", "--n", "4", "--seed", "1", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert {"accuracy", "n", "styles", "held_out", "aspects", "categories"} <= set(summary)
    assert summary["n"] == 4 and 0.0 <= summary["accuracy"] <= 1.0


def test_pakati_eval_planner_help_imports_nothing_heavy():
    process, modules = run_python("-m", "pakati", "eval", "planner", "--help")
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.startswith("usage: pakati eval planner ")
    assert heavy(modules) == []
