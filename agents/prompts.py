"""Every piece of prompt text the agent sends to a language model.

The offline rule-based model (``agents.offline``) recognises which job it is asked to do by
the structured-output tool it is bound to (``Plan``, ``RefinementActions``), not by parsing
these texts, so they can be reworded freely. It does read the JSON blocks that the
``*_request`` helpers put after the ``MARKER`` lines; the list of image models
(:data:`MARKER_MODELS`) comes first, before every marker it reads, so it never runs into
them.
"""

from __future__ import annotations

PLANNER_SYSTEM = """\
You are the planner of Pakati, a tool that generates an image region by region.
Turn the user's goal into a plan: a canvas size, a base prompt that describes the \
background, and one region per object with a box [x0, y0, x1, y1] in canvas pixels \
(origin top left, x to the right, y down) and a short prompt for that object alone.
Rules:
- Every box lies inside the canvas and has x1 > x0 and y1 > y0.
- Regions of separate objects should not overlap.
- Spatial words map to the canvas: "left" is the left third or half, "top right corner" \
the top right quadrant, "in the centre" the middle; "small" objects get smaller boxes.
- Region prompts name one object with its colour, e.g. "a red circle".
- Leave tasks empty unless some region must be painted after another.
- Leave a region's model empty (the canvas model draws it) unless the goal asks for a \
particular model, or a listed model suits that region better; then use a name from the \
IMAGE MODELS list, or "auto" to let Pakati choose. Models not listed cannot be used here.
Answer only by calling the tool that returns the plan."""

EDIT_SYSTEM = """\
You are the planner of Pakati. The user is editing an existing plan in a conversation.
Return the complete new plan: keep every region the user did not mention exactly as it \
is (same name, box and prompt), and change only what the instruction asks for \
(a colour, a size, a position, an added or removed object).
Answer only by calling the tool that returns the plan."""

REFINER_SYSTEM = """\
You are the refiner of Pakati. A critic scored the last image against the goal with CLIP \
(cosine similarity; higher is better). For each failing region propose concrete changes: \
re-phrase its prompt, give it a new seed, raise its weight, move or resize its box; or \
change the canvas guidance scale or number of steps. Do not touch regions that passed: \
they are locked and kept exactly. Prefer small, specific changes.
Answer only by calling the tool that returns the actions."""

RETRY_MESSAGE = """\
Your previous answer could not be used: {error}
Answer again by calling the {tool} tool with arguments that fix this."""

MARKER_MODELS = "IMAGE MODELS:"
MARKER_GOAL = "GOAL:"
MARKER_CANVAS = "CANVAS:"
MARKER_PLAN = "CURRENT PLAN JSON:"
MARKER_INSTRUCTION = "INSTRUCTION:"
MARKER_CRITIQUE = "CRITIQUE JSON:"
MARKER_PASS = "PASS:"


def planner_request(goal: str, width: int, height: int, models: str = "") -> str:
    return f"{models_block(models)}{MARKER_GOAL} {goal}\n{MARKER_CANVAS} {width}x{height}"


def edit_request(plan_json: str, instruction: str, models: str = "") -> str:
    return f"{models_block(models)}{MARKER_PLAN}\n{plan_json}\n{MARKER_INSTRUCTION} {instruction}"


def models_block(models: str) -> str:
    """The image models usable here (one per line), ahead of the request's own markers."""
    return f"{MARKER_MODELS}\n{models.strip()}\n" if models.strip() else ""


def refiner_request(goal: str, plan_json: str, critique_json: str, pass_number: int) -> str:
    return (
        f"{MARKER_GOAL} {goal}\n{MARKER_PASS} {pass_number}\n"
        f"{MARKER_PLAN}\n{plan_json}\n{MARKER_CRITIQUE}\n{critique_json}"
    )


def section(text: str, marker: str, until: tuple[str, ...] = ()) -> str:
    """The text after ``marker`` up to the next of ``until`` (or the end), stripped."""
    start = text.find(marker)
    if start < 0:
        return ""
    rest = text[start + len(marker) :]
    cut = min((i for i in (rest.find(m) for m in until) if i >= 0), default=len(rest))
    return rest[:cut].strip()
