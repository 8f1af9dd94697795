"""The highlight: which sentence (or two) of a found passage answers, with the real model on small documents
written here (no question or answer of the seed article or of the eval suite)."""
from __future__ import annotations

import pytest
from conftest import _loaded_assistant

from docqa import Assistant
from docqa.highlight import _names_new, announces, asks_place, is_label, points_back

HARBOUR = """Port of Kellmouth

The harbour of Kellmouth was dredged in 1871 so that steamships could reach the town quay.

Last spring the harbour office introduced BerthBook, a free booking service. It lets captains reserve a berth \
from their phones up to a week ahead. Fees are paid at the quay as before.

The town council approved a clean-up programme for the estuary in 1998. Salmon numbers doubled within five years \
and the water turned clear again. Anglers returned to the old weir, where fishing had stopped in the 1960s.

What should a skipper do if the harbour radio does not answer? Call the harbour master's mobile number, which \
is posted on the notice board at the quay. Out of season the office closes at four.

The lighthouse stands on the northern breakwater. The lamp is visible for twenty nautical miles. \
The keeper's cottage beside it is now a small museum. A café opens there on Sundays in summer.
"""


TOWN = """Kellmouth in the evening

The only cinema in Kellmouth is the Regal on Harbour Street. Usually it is quiet on weekdays, when tickets cost \
half price.

The Anchor serves fish suppers until nine. Its garden looks over the estuary.
"""


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory, embedder) -> Assistant:
    return _loaded_assistant(tmp_path_factory.mktemp("town"), embedder, {"town.txt": TOWN})


@pytest.fixture(scope="module")
def harbour(tmp_path_factory: pytest.TempPathFactory, embedder) -> Assistant:
    return _loaded_assistant(tmp_path_factory.mktemp("harbour"), embedder, {"kellmouth.txt": HARBOUR})


def _top(assistant: Assistant, question: str):
    answer = assistant.ask(question)
    assert answer.found, question
    return answer.passages[0]


def _sentence_spans(assistant: Assistant, passage) -> list[tuple[int, int]]:
    """The passage's sentences as the index holds them (a Passage carries only its highlight)."""
    return next(c.sentences for c in assistant.retriever.stored.chunks
                if c.source == passage.source and c.start == passage.start)


def _highlighted_sentences(assistant: Assistant, passage) -> int:
    """How many whole sentences the highlight spans; 0 when it does not start and end on sentence bounds."""
    spans = _sentence_spans(assistant, passage)
    starts, ends = [a for a, _ in spans], [b for _, b in spans]
    if passage.highlight[0] not in starts or passage.highlight[1] not in ends:
        return 0
    return ends.index(passage.highlight[1]) - starts.index(passage.highlight[0]) + 1


def test_points_back_and_announces():
    assert points_back("It lets captains reserve a berth.") and points_back("These are debug() and info().")
    assert points_back("“This is done by a comment.”") and points_back("Here the High Rhine ends.")
    assert not points_back("Italy lies south.") and not points_back("Thesis writers rest.")
    assert not points_back("The lamp is bright.") and not points_back("There are three branches.")
    assert points_back("Usually it’s slower.") and points_back("However, this name is older.")
    assert points_back("In contrast, these accept any iterable.") and points_back("So, it is easy.")
    assert not points_back("Early trains ran late.") and not points_back("However, the name is older.")
    assert announces("Do this:") and announces("What can you do if it jams?  ")
    assert not announces("It jams.")


def test_a_sentence_that_points_back_brings_what_it_points_to(harbour):
    """"It lets captains reserve a berth" does not say what "it" is: the highlight names it."""
    top = _top(harbour, "Which service lets captains reserve a berth from their phones?")
    assert "reserve a berth" in top.highlight_text
    assert "BerthBook" in top.highlight_text


def test_a_sentence_that_points_back_after_a_linking_word_brings_what_it_points_to(town):
    """"Usually it is quiet on weekdays" does not say what "it" is; the sentence before names the cinema."""
    top = _top(town, "Where are tickets half price on weekdays?")
    assert "half price" in top.highlight_text
    assert "the Regal" in top.highlight_text


LOCH = """Loch Varrow

Loch Varrow is fed by three streams: the Dubh, the Geal and the Ruadh, which meet at its northern end. The water \
lies in a deep valley below the Cairngorm mountains. Boats may be hired from the pier in summer.

The village shop sells fishing permits. Trout are caught from April to September.
"""


def test_the_neighbour_closer_in_meaning_joins_the_one_that_holds_the_words(tmp_path, embedder):
    """"Loch Varrow is fed by ..." holds the question's name; the next sentence says which peaks: both are shown."""
    loch = _loaded_assistant(tmp_path, embedder, {"loch.txt": LOCH})
    top = _top(loch, "Which peaks rise above Loch Varrow?")
    assert "Loch Varrow is fed" in top.highlight_text and "Cairngorm mountains" in top.highlight_text


HOUSE = """House notes

The spare keys are not kept in the office. They hang on a hook inside the boiler cupboard, next to the fuse box.

The bins go out on Thursday evening, after the recycling lorry has left the lane. They are brought back in on \
Friday.
"""


def test_a_sentence_that_restates_the_question_brings_the_next_that_points_back(tmp_path, embedder):
    """"The spare keys are not kept in the office" only restates the question; "They hang on a hook ..." answers.
    "The bins go out on Thursday evening, after ..." says more than was asked: it stays alone."""
    house = _loaded_assistant(tmp_path, embedder, {"house.txt": HOUSE})
    top = _top(house, "Where are the spare keys kept?")
    assert "The spare keys are not kept" in top.highlight_text and "boiler cupboard" in top.highlight_text
    top = _top(house, "When do the bins go out?")
    assert "Thursday evening" in top.highlight_text and "Friday" not in top.highlight_text


def test_a_question_in_the_text_is_highlighted_with_its_answer(harbour):
    top = _top(harbour, "What should a skipper do when the harbour radio does not answer?")
    assert "Call the harbour master's mobile number" in top.highlight_text


def test_the_neighbour_that_says_what_happened_joins_the_scene_setting_sentence(harbour):
    """The best sentence names the programme; the next one says what happened to the water."""
    top = _top(harbour, "What happened to the water during the clean-up programme?")
    assert "clean-up programme" in top.highlight_text and "the water turned clear" in top.highlight_text


def test_a_plain_question_highlights_one_sentence(harbour):
    """Nothing points back, announces or adds missing words: one sentence, not the passage."""
    top = _top(harbour, "How far away can the lamp be seen?")
    assert "twenty nautical miles" in top.highlight_text
    assert "café" not in top.highlight_text
    assert _highlighted_sentences(harbour, top) == 1


def test_the_highlight_is_at_most_two_adjacent_sentences_of_the_passage(harbour):
    for question in ["When was the harbour dredged?", "Where is the keeper's cottage?", "Who can book a berth?",
                     "When did fishing stop at the weir?", "What happens out of season?"]:
        answer = harbour.ask(question)
        for p in answer.passages + answer.closest:
            assert p.start <= p.highlight[0] < p.highlight[1] <= p.end
            assert 1 <= _highlighted_sentences(harbour, p) <= 2


PATTERNS = """Pattern notes

The question mark character, ?, matches the item before it either once or zero times. You can think of it as \
marking something optional. For example, colou?r matches both spellings of the word.

Adding .* to the front of a pattern defeats the quick scan for its first letter. Use search() instead of \
prefixing .* to match().
"""


@pytest.fixture(scope="module")
def patterns(tmp_path_factory: pytest.TempPathFactory, embedder) -> Assistant:
    return _loaded_assistant(tmp_path_factory.mktemp("patterns"), embedder, {"patterns.txt": PATTERNS})


@pytest.mark.parametrize("question, said", [
    ("What does ? match?", "The question mark character, ?, matches the item before it"),
    ("What does adding .* do?", "Adding .* to the front of a pattern defeats the quick scan"),
])
def test_a_fragment_cut_at_a_symbol_is_not_highlighted_alone(patterns, question, said):
    """pysbd cuts "The question mark character, ?" and "Adding ." off: the highlight is the whole sentence."""
    assert said in _top(patterns, question).highlight_text


VILLAGE = """Village notes

Library van
Every second Wednesday outside the village hall, 10:00 to 11:30. Returns can also be left at the post office.

Bottle bank
Behind the chapel car park, emptied on Mondays. Please keep the lids for the blue bin.

Parish council
Meetings are held in the school hall on the last Thursday of the month at half past seven.
"""


@pytest.fixture(scope="module")
def village(tmp_path_factory: pytest.TempPathFactory, embedder) -> Assistant:
    return _loaded_assistant(tmp_path_factory.mktemp("village"), embedder, {"village.txt": VILLAGE})


def test_is_label():
    assert is_label("Farmers' market", 6) and is_label("Opening hours", 6) and is_label("Bottle bank (Co-op)", 6)
    assert not is_label("The van comes on Wednesdays.", 6) and not is_label("Is it open?", 6)
    assert not is_label("This line is far too long to be a label of any note", 6)


@pytest.mark.parametrize("question, said", [
    ("When does the library van come?", "Every second Wednesday"),
    ("Where is the bottle bank?", "Behind the chapel car park"),
])
def test_a_label_line_brings_the_line_it_names(village, question, said):
    """A label line matches the question best but says nothing: the line under it joins the highlight."""
    top = _top(village, question)
    assert said in top.highlight_text
    assert _highlighted_sentences(village, top) == 2


VALLEY = """Valley notes

The old mill stands at the end of the lane and grinds flour on Saturdays.

Every spring the meltwater from the high glaciers collects in a wide, shallow basin below the pass, where it stays \
for a few weeks. From there it runs on to Lake Orsa, ten kilometres to the north.

The school bus leaves the square at ten past eight.
"""


def test_asks_place_and_names_new():
    assert asks_place("Where does the meltwater go?") and asks_place("and where does it end?")
    assert asks_place("What island does the cold water flow to?") and asks_place("It goes to which other lake?")
    assert not asks_place("What does the mill grind?") and not asks_place("When does the bus leave?")
    assert _names_new("From there it runs on to Lake Orsa.", "Where does the meltwater go?")
    assert not _names_new("Every spring the meltwater collects in a basin.", "Where does the meltwater go?")
    assert not _names_new("It runs on to Lake Orsa.", "Does it run to Lake Orsa?")


@pytest.fixture(scope="module")
def valley(tmp_path_factory: pytest.TempPathFactory, embedder) -> Assistant:
    return _loaded_assistant(tmp_path_factory.mktemp("valley"), embedder, {"valley.txt": VALLEY})


@pytest.mark.parametrize("question", ["Where does the meltwater from the glaciers go?",
                                      "Where does the glacier meltwater end up?"])
def test_a_where_question_brings_the_neighbour_that_names_the_place(valley, question):
    """The sentence that restates the question says where the water collects on the way; the one after it names
    where it goes. A question that asks no place keeps its one sentence."""
    top = _top(valley, question)
    assert "Lake Orsa" in top.highlight_text and "meltwater" in top.highlight_text
    assert _highlighted_sentences(valley, top) == 2
    mill = _top(valley, "What does the mill grind?")
    assert _highlighted_sentences(valley, mill) == 1


FOREST = """Forest notes

Illegal logging in the reserve has worried the rangers for years. They have asked the council for two more \
wardens. Last winter illegal logging reached the forest on the slopes of Mount Kell.

The visitor centre opens at nine.
"""


def test_a_where_question_takes_the_sentence_that_names_a_place(tmp_path, embedder):
    """The sentence that matches the question best says that logging worries the rangers (score 0.91); two
    sentences on, the passage says where it reached (0.90). A where-question's highlight is the sentence naming a place ("on the slopes
    of Mount Kell"); a question that asks no place keeps the best sentence."""
    from docqa.highlight import names_place

    forest = _loaded_assistant(tmp_path, embedder, {"forest.txt": FOREST})
    top = _top(forest, "Where did the illegal logging happen?")
    assert "Mount Kell" in top.highlight_text and "worried" not in top.highlight_text
    assert "Mount Kell" not in _top(forest, "Why are the rangers worried?").highlight_text
    assert names_place("a logger cut trees on the slopes of Mount Kell.", "Where did it happen?")
    assert not names_place("It protects Queensland's rainforests.", "Where in Queensland did it happen?")
    assert not names_place("It happened on the slopes of Mount Kell.", "Did it happen on Mount Kell?")
