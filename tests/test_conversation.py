"""Follow-ups, "Why?", overview requests and other languages, over small documents written for these tests."""
from __future__ import annotations

from dataclasses import replace

import pytest

from docqa.answer import states_reason
from docqa.assistant import Assistant
from docqa.conversation import (is_bare_why, is_overview_request, previous_quote, refers_back, resolve_query,
                                subject_of)

from conftest import _loaded_assistant

CITY = """# Varnholm

Varnholm is a port city on the northern shore of Lake Tessel. It has about 240,000 inhabitants and is the capital \
of the Tessel region.

The city is served by the Varnholm Tramway, a light rail system of four lines opened in 1911. The trams run every \
six minutes on weekdays.

The old harbour was rebuilt in 1876 because a fire had destroyed the wooden warehouses two years earlier. Today \
the harbour handles grain and timber.
"""
RIVER = """# Orsk River

The Orsk is a river of 410 kilometres that rises in the Kamen Hills and flows into Lake Tessel.

Its main tributary is the Lesna. Spring floods on the Orsk are held back by three dams built between 1952 and 1960.
"""


@pytest.fixture(scope="module")
def towns(tmp_path_factory, embedder):
    return _loaded_assistant(tmp_path_factory.mktemp("towns"), embedder, {"city.md": CITY, "river.md": RIVER})


def _chat(assistant, turns):
    history, answer = [], None
    for turn in turns:
        answer = assistant.ask(turn, history=history)
        history += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer.markdown}]
    return answer


def _history(questions):
    return [m for q in questions for m in ({"role": "user", "content": q}, {"role": "assistant", "content": "..."})]


def test_a_follow_up_takes_only_the_previous_questions_subject():
    earlier = ["Where is the harbour?", "Who runs the trams?", "How long is the river?", "What floods in spring?",
               "What does the harbour handle?"]
    query = resolve_query("How does that compare with the Lesna?", _history(earlier), 2000)
    assert query == "How does the harbour compare with the Lesna?"


def test_a_question_with_no_words_of_its_own_is_read_after_the_previous_one_resolved():
    earlier = ["When was the tramway opened?", "Is the harbour older?", "Why was it rebuilt?"]
    query = resolve_query("And when was that?", _history(earlier), 2000)
    assert query == "Why was the harbour rebuilt? And when was that?"


def test_the_subject_is_the_noun_phrase_not_the_predicate():
    assert subject_of("Where does the Rhine start?", "The Rhine begins in the Alps.") == ["the Rhine"]
    assert subject_of("What is the Rhine knee?", "Basel holds the Rhine knee, a bend.") == ["the Rhine knee"]
    assert subject_of("Which city is it in?", "Basel holds the Rhine knee.") == ["city"]
    assert subject_of("How long is it?", "It is 410 km long.") == []


def _said(*turns):
    """A history of (question, the sentence its answer quoted) turns."""
    return [m for q, quote in turns for m in ({"role": "user", "content": q}, {"role": "assistant", "content": quote})]


def test_it_means_what_the_last_question_was_about_not_its_objects_or_adverbials():
    said = _said(("Why was the old harbour rebuilt in 1876?", "> The old harbour was rebuilt in 1876. [1]"))
    assert resolve_query("What does it handle today?", said, 2000) == "What does the old harbour handle today?"
    said = _said(("When did the ferry stop at first?", "> At first the ferry stopped at Orsk. [1]"))
    assert resolve_query("How long is it?", said, 2000) == "How long is the ferry?"
    # "that" may point at anything the last question said: the plan and the prices, not only the U.S.
    said = _said(("What does the U.S. plan to do about energy prices?", "> The U.S. will drive down energy prices. [1]"))
    assert "energy prices" in resolve_query("Why would that matter?", said, 2000)


def test_that_before_a_noun_means_the_topic_not_everything_said():
    # "that harbour" is the phrase of the last question that ends in "harbour", not every phrase it had
    said = _said(("When did the fire destroy the old harbour?", "> The fire destroyed the old harbour in 1874. [1]"))
    assert resolve_query("Who rebuilt that harbour?", said, 2000) == "Who rebuilt the old harbour?"
    # a bare "that" after an auxiliary is what the last answer said: all its phrases
    assert "1874" not in resolve_query("Why did that happen?", said, 2000)
    assert "old harbour" in resolve_query("Why did that happen?", said, 2000)


def test_a_phrase_does_not_go_on_across_the_answers_punctuation():
    # "Inside a generator function, return value causes ..." does not make "generator function return" a phrase
    said = _said(("What does a generator function return?", "> A generator function returns a generator object. [1]"
                  "\n>\n> Inside a generator function, return value causes StopIteration to be raised. [2]"))
    assert resolve_query("How do I send values into one?", said, 2000) == "How do I send values into generator function?"


def test_a_question_that_names_its_topic_first_keeps_its_pointer_for_that_topic():
    said = _said(("How do I make a descriptor read-only?", "> Define both get and set, with set raising. [1]"))
    question = "What about __slots__, how much memory does it save?"
    assert resolve_query(question, said, 2000) == question
    assert refers_back("How much memory does it save?") and resolve_query("How much memory does it save?", said,
                                                                          2000) != "How much memory does it save?"


def test_a_follow_up_that_points_back_is_not_answered_from_its_words_alone(towns):
    # "it" is the Volga bridge, which no document names; searched alone, "When was it rebuilt?" would quote the
    # harbour's rebuilding in 1876
    assert towns.ask("When was it rebuilt?").found
    answer = _chat(towns, ["How long is the Volga bridge?", "When was it rebuilt?"])
    assert "Volga" in answer.query
    assert not answer.found and "1876" not in answer.markdown


def test_it_is_the_thing_the_answer_named_and_agrees_in_number():
    said = _said(("What handlers can I add?", "> Add no handlers other than NullHandler to your library's loggers. [1]"))
    assert resolve_query("Since when has it existed?", said, 2000) == "Since when has NullHandler existed?"


def test_after_which_it_is_the_name_the_answer_gave_the_thing_asked_about():
    said = _said(("Which dam holds back the floods of the Orsk?", "> Floods of the Orsk are held back by the Kamen Dam, "
                  "built by Tessel Water. [1]"))
    assert resolve_query("When was it built?", said, 2000) == "When was Kamen Dam built?"


def test_a_phrase_goes_on_over_of():
    assert subject_of("Who founded the Confederation of the Rhine?", None) == ["the Confederation of the Rhine"]


def test_a_turn_with_no_words_of_its_own_costs_no_depth():
    said = _said(("What is the Kamen Dam?", "> The Kamen Dam holds back floods. [1]"),
                 ("What's another name for it?", "> It is also called the Old Wall. [1]"),
                 ("Who popularized it?", "> It was popularized by Ada Brun. [1]"), ("Why?", "The document doesn't say why."))
    assert resolve_query("Is it still used?", said, 2000) == "Is the Kamen Dam still used?"


def test_standalone_question_is_not_resolved():
    assert resolve_query("What is the main tributary of the Orsk?", _history(["How long is the Orsk?"]), 2000) == \
        "What is the main tributary of the Orsk?"


@pytest.mark.parametrize("question, expected", [("Why?", True), ("why is that?", True), ("And why not?", True),
                                                ("Why did the harbour burn?", False), ("What about the dams?", False)])
def test_bare_why(question, expected):
    assert is_bare_why(question) is expected


def test_refers_back_is_about_unnamed_things_not_the_documents_subject():
    assert refers_back("How does that compare?") and refers_back("Why?")
    assert not refers_back("What about the spending target?") and not refers_back("What did he say about trams?")


@pytest.mark.parametrize("question", ["What is this about?", "What is the article about?", "Summarize the article",
                                      "summarise", "Give me a summary", "What are these documents about?", "tl;dr",
                                      "What does the document cover?", "Summarize the news",
                                      "What are the minutes about?"])
def test_overview_requests(question):
    assert is_overview_request(question)


@pytest.mark.parametrize("question", ["What is Article 5 about?", "Summarize what he said about troops",
                                      "What is the tramway about to build?", "Summarize the news about the bridge",
                                      "What does the log say about the brakes?"])
def test_questions_that_are_not_overview_requests(question):
    assert not is_overview_request(question)


def test_previous_quote_reads_the_quoted_sentences_back():
    reply = "> The trams run every six minutes \\(on weekdays\\)\\. [1]\n>\n> Another one\\. [2]\n\n**Sources**\n\n..."
    assert previous_quote([{"role": "assistant", "content": reply}]) == \
        "The trams run every six minutes (on weekdays). Another one."
    assert previous_quote([{"role": "assistant", "content": "The documents don't say."}]) is None


def test_follow_up_naming_its_own_subject_is_searched_alone(towns):
    answer = _chat(towns, ["Where is Varnholm?", "How many people live there?", "When did the tramway open?",
                           "How often do the trams run?", "How long is the Orsk?", "What about the dams?"])
    assert answer.found and answer.query == "What about the dams?"
    assert "three dams" in answer.passages[0].highlight_text


def test_follow_up_pointing_back_uses_the_previous_topic(towns):
    answer = _chat(towns, ["How long is the Orsk?", "When was the tramway opened?", "How often does it run?"])
    assert answer.found and answer.query == "How often does the tramway run?"
    assert "every six minutes" in answer.passages[0].highlight_text


def test_a_pronoun_follow_up_takes_the_previous_subject_not_its_predicate(towns):
    answer = _chat(towns, ["Where does the Orsk rise?", "And where does it end?"])
    assert answer.query == "And where does the Orsk end?"  # not "Where does the Orsk rise? And where does it end?"
    assert answer.found and "Lake Tessel" in answer.passages[0].highlight_text


def test_the_assistants_zipf_bar_decides_which_words_are_names_in_a_follow_up(towns, embedder):
    # "oak" (zipf 4.2) is a common English word under the default bar (3.0), a term under 4.5, as for the speller
    knobs = replace(towns.settings.retrieval, english_word_zipf=4.5)
    strict = Assistant(sources=towns.sources, index_dir=towns.index_dir, embedder=embedder,
                       settings=replace(towns.settings, retrieval=knobs))
    strict.load()
    chat = ["Did oak warehouses burn?", "When were those rebuilt?"]
    assert _chat(towns, chat).query == "When were warehouses rebuilt?"
    answer = _chat(strict, chat)
    assert answer.query == "When were oak warehouses rebuilt?"
    assert answer.found and "1876" in answer.passages[0].highlight_text


def test_a_long_chat_searches_only_what_the_turn_needs(towns):
    answer = _chat(towns, ["Where is Varnholm?", "How many people live there?", "When did the tramway open?",
                           "How often do the trams run?", "When was the old harbour rebuilt?",
                           "What does it handle today?"])
    assert answer.query == "What does the old harbour handle today?"
    assert answer.found and "grain and timber" in answer.passages[0].highlight_text
    assert "Searched for" not in answer.markdown or "rebuilt" not in answer.markdown.split("Sources")[0]


def test_why_gets_the_reason_when_the_passage_states_one(towns):
    answer = _chat(towns, ["When was the old harbour rebuilt?", "Why?"])
    assert answer.found and "because a fire" in answer.passages[0].highlight_text


def test_why_says_the_documents_do_not_say_when_no_reason_is_given(towns):
    first = towns.ask("How many dams hold back the floods on the Orsk?")
    answer = _chat(towns, ["How many dams hold back the floods on the Orsk?", "Why?"])
    assert first.found and not answer.found and answer.passages == []
    assert "say why" in answer.markdown and first.markdown.split("\n")[0] not in answer.markdown


def test_a_bare_why_shows_a_readable_search_and_says_the_document_does_not_say_why(towns):
    answer = _chat(towns, ["Where is Varnholm?", "When did the tramway open?", "How many lines does it have?", "Why?"])
    assert not answer.found and "say why" in answer.markdown
    assert answer.query == "How many lines does the tramway have? Why?"  # not the quoted sentence


COUNCIL = """# Brannock Council

The council of Brannock wants a second bridge over the Veld by 2030. It calls the bridge essential for the \
growth of the eastern districts.

The council meets on the first Tuesday of each month in the old town hall.
"""


def test_why_takes_a_stated_purpose_as_the_reason(tmp_path, embedder):
    assistant = _loaded_assistant(tmp_path, embedder, {"council.md": COUNCIL})
    answer = _chat(assistant, ["What does the council want to build by 2030?", "Why does it want that?"])
    assert answer.found and "essential for the growth" in answer.passages[0].text
    # the sentence giving the reason is the one highlighted and quoted, not the one the last answer quoted
    assert "essential for the growth" in answer.passages[0].highlight_text
    assert "wants a second bridge" not in answer.passages[0].highlight_text



def test_why_takes_x_comma_so_y_as_the_reason(tmp_path, embedder):
    """ "X, so Y": X is why Y. The cue is the clause-opening "so", not "so far" or "so much"."""
    note = ("# Store\n\nThe pears go in the garage fridge. Pears ripen from the inside, so take a few out four days "
            "before you want to eat them.\n")
    assistant = _loaded_assistant(tmp_path, embedder, {"store.md": note})
    answer = _chat(assistant, ["When should I take the pears out of the fridge?", "Why?"])
    assert answer.found and "ripen from the inside" in answer.passages[0].highlight_text
    assert states_reason("Prices rose, so demand fell.")
    for text in ("It has gone well so far.", "There is so much to do.", "and so on", "Thanks so much, Ann."):
        assert not states_reason(text), text

def test_overview_cites_each_documents_title_and_opening(towns):
    answer = towns.ask("What is this about?")
    assert answer.found and answer.kind == "overview"
    assert [(p.source, p.paragraph) for p in answer.passages] == [("city.md", 1), ("city.md", 2),
                                                                  ("river.md", 1), ("river.md", 2)]
    for p in answer.passages:
        document = towns.documents[p.source]
        assert document.text[p.start : p.end] == p.text
        assert p.title in answer.markdown and p.highlight_text in answer.markdown.replace("\\", "")
    lines = [line for line in answer.markdown.splitlines() if line.startswith("- ")]
    assert len(lines) == 2  # one line per document: its title [n] and its opening sentence [m]
    assert lines[0].endswith("[2]") and "[1]" in lines[0] and lines[1].endswith("[4]") and "[3]" in lines[1]


@pytest.mark.parametrize("question", ["Give me a quick overview of each guide", "What's in these files?",
                                      "What topics do the documents cover?", "Summarize the docs"])
def test_overview_requests_in_other_words(question):
    assert is_overview_request(question)


@pytest.mark.parametrize("question", ["Why would that help?", "How come?", "So why does that matter?",
                                      "Why did he say that?"])
def test_why_in_other_words_asks_for_the_previous_answers_reason(question):
    assert is_bare_why(question)


@pytest.mark.parametrize("question", ["Why did Russia annex it?", "Why does logging use the old % formatting?",
                                      "What about it?", "Is it about sorting?"])
def test_questions_that_name_something_are_neither_why_nor_overview(question):
    assert not is_bare_why(question) and not is_overview_request(question)


@pytest.mark.parametrize("question", ["Welche Straßenbahn fährt in Varnholm?", "Quelle est la longueur de l'Orsk?",
                                      "¿Cuántos habitantes tiene Varnholm?",
                                      "Сколько жителей в этом городе?"])
def test_a_question_in_another_language_gets_a_plain_reply(towns, question):
    answer = towns.ask(question)
    assert answer.kind == "language" and not answer.found and "English" in answer.markdown


def test_english_question_with_a_foreign_name_is_searched(towns):
    assert towns.ask("What rail system serves Varnholm?").found


BAKERY = """# Millbrook Bakery

Millbrook Bakery sells sourdough loaves, rye bread and cinnamon buns baked in a wood-fired oven.

The shop opens at seven in the morning and closes at two in the afternoon. It is closed on Mondays.
"""
LIBRARY = """# Harwick Public Library

Harwick Public Library lends books, films and board games, and runs a reading club for children.

The library opens at ten in the morning and closes at eight in the evening, every day of the week.
"""


@pytest.fixture(scope="module")
def shops(tmp_path_factory, embedder):
    return _loaded_assistant(tmp_path_factory.mktemp("shops"), embedder,
                             {"bakery.md": BAKERY, "library.md": LIBRARY})


@pytest.mark.parametrize("first, source", [("What bread does the bakery sell?", "bakery.md"),
                                           ("Does the library lend board games?", "library.md")])
def test_a_follow_up_stays_with_the_document_being_discussed(shops, first, source):
    alone = shops.ask("What are the opening hours?")
    assert alone.found  # either document could answer it
    answer = _chat(shops, [first, "What are the opening hours?"])
    assert answer.found and answer.passages[0].source == source and "opens at" in answer.passages[0].highlight_text


def test_a_question_naming_another_document_leaves_the_topic(shops):
    answer = _chat(shops, ["What bread does the bakery sell?", "When does the library close?"])
    assert answer.found and answer.passages[0].source == "library.md"


FAMILY = """# Ada and Ben - school notes

Ada is in year four and walks to school with the neighbours.

Ada takes an inhaler for her asthma before sports.

Ben is in year one and goes to the breakfast club at eight.

Ben takes antibiotics for an ear infection until Friday.

In the holidays Grandma looks after Ada at the farm.

In the holidays Ben stays with his aunt Clara in town.
"""


@pytest.fixture(scope="module")
def family(tmp_path_factory, embedder):
    return _loaded_assistant(tmp_path_factory.mktemp("family"), embedder, {"family.md": FAMILY})


def test_a_bare_phrase_asks_the_last_question_again_about_it():
    """ "And Ben?": the last question, its own pointers resolved, with the new phrase in place of the last phrase
    of its kind: a name for a name (or an unresolved "she"), a common noun for a common noun."""
    asked = ["What does Ada play?", "Why?", "What medicine does she take?"]
    assert resolve_query("And Ben?", _history(asked), 2000) == "What medicine does Ben take?"
    assert resolve_query("but Ben?", _history(["When does Ada walk to school?"]), 2000) == \
        "When does Ben walk to school?"
    assert not refers_back("What about Ben?", _history(["When does Ada walk to school?"]))  # may open a topic
    assert resolve_query("And the pears?", _history(["Where are the apples kept?"]), 2000) == \
        "Where are the pears kept?"
    assert resolve_query("And Taiwan?", _history(["What did he say about Crimea?"]), 2000) == \
        "What did he say about Taiwan?"  # the last name, not "he": the question asked about Crimea
    assert refers_back("And Ben?", _history(asked)) and not refers_back("And Ben?")
    # a question about a topic ("about", "mention", "view on"): the phrase takes the topic's place, whatever its kind
    said = _history(["What did he say about the F-35?"])
    assert resolve_query("and nuclear weapons?", said, 2000) == "What did he say about nuclear weapons?"
    assert resolve_query("And Taiwan?", said, 2000) == "What did he say about Taiwan?"
    assert refers_back("and nuclear weapons?", said)
    assert resolve_query("And Ben?", _history(["What did Ada say about school?"]), 2000) == \
        "What did Ben say about school?"  # a name for the name outside the topic: asked of Ben, not about him
    # no phrase of its kind and no topic: read after the last question, and searched alone first, as before
    said = _history(["Where are the apples kept?"])
    assert resolve_query("and Ben?", said, 2000) == "Where are the apples kept? and Ben?"
    assert not refers_back("and Ben?", said)
    assert not refers_back("What about the dams in spring?", _history(["How long is the Orsk?"]))


def test_the_noun_a_conversation_named_is_searched_by_its_name():
    """ "it" after "How fast is the tramway?" is the tramway the chat named: "the Varnholm Tramway" finds what the
    documents say of that one, "the tramway" of any. With no name given, the noun stays."""
    chat = ["Who designed the Varnholm Tramway?", "How fast is the tramway?"]
    assert resolve_query("When did it open?", _history(chat), 2000) == "When did the Varnholm Tramway open?"
    chat = ["When was the Old Harbour rebuilt?", "Who owns the harbour now?"]
    assert resolve_query("What does it handle?", _history(chat), 2000) == "What does the Old Harbour handle?"
    assert resolve_query("What feeds it?", _history(["How big is the lake?"]), 2000) == "What feeds the lake?"


def test_instead_and_else_point_back_only_in_a_question_with_no_words_of_its_own():
    """ "Who should send troops instead?" names what it asks: searched alone first, not glued to the last question
    (which drew the answer to the troops that will not be sent). "What else?" and "And instead?" name nothing."""
    said = _history(["What about American troops?"])
    assert not refers_back("And who should send troops instead?", said)
    assert not refers_back("What else does the operator module offer?", said)
    for question in ["What else?", "Is there anything else?", "And instead?", "What else did he say?"]:
        assert refers_back(question, said), question


def test_he_and_she_are_the_name_the_last_questions_had_as_their_subject():
    chat = ["What medicine does Ada take?", "And Ben?"]
    assert resolve_query("When is his breakfast club?", _history(chat), 2000) == \
        "When is Ben's breakfast club?"
    chat += ["When is his breakfast club?", "Why?", "Does he take the bus?"]  # one name down a chain of pronouns
    assert resolve_query("Who looks after him in the holidays?", _history(chat), 2000) == \
        "Who looks after Ben in the holidays?"
    assert refers_back("Who looks after him in the holidays?", _history(chat))
    # no name as the subject of the last questions: searched as written ("he" is the one speaker of a speech)
    speech = _history(["Why did Russia annex Crimea?", "What about American troops?", "Who should send troops?"])
    assert resolve_query("What did he say about Taiwan?", speech, 2000).endswith("What did he say about Taiwan?")
    assert "Russia" not in resolve_query("What did he say about Taiwan?", speech, 2000)
    assert not refers_back("What did he say about Taiwan?", speech)


def test_a_verb_after_an_auxiliary_and_a_pronoun_is_not_a_name():
    # "ripen" is rarer than the name bar, but "How do I ripen them?" asks about the pears, not about "ripen"
    chat = ["And the pears?", "How do I ripen them?", "Why?"]
    assert resolve_query("What variety are they?", _history(["Where are the apples kept?", *chat]), 2000) == \
        "What variety are the pears?"


def test_a_chat_about_two_people_keeps_each_to_their_own_passages(family):
    answer = _chat(family, ["What medicine does Ada take?", "And Ben?"])
    assert answer.query == "What medicine does Ben take?"
    assert answer.found and "antibiotics" in answer.passages[0].highlight_text
    answer = _chat(family, ["What medicine does Ada take?", "And Ben?", "Who looks after him in the holidays?"])
    assert answer.query == "Who looks after Ben in the holidays?"
    assert answer.found and "aunt Clara" in answer.passages[0].highlight_text


def test_the_same_keeps_its_noun_and_takes_the_subject_as_what_it_is_the_same_as(tmp_path, embedder):
    assert resolve_query("Which other modules do the same job?", _history(["What is argparse?"]), 2000) == \
        "Which other modules do the same job as argparse?"  # not "do argparse job"
    note = ("# Settings tools\n\nQuillp is the recommended tool for reading settings files in the Varn toolkit.\n\n"
            "There are two other tools that do the same job, namely Inkr and the older Parsel.\n\n"
            "Quillp reads its settings from a file and from the command line.\n")
    assistant = _loaded_assistant(tmp_path, embedder, {"tools.md": note})
    answer = _chat(assistant, ["What is Quillp?", "Which other tools do the same job?"])
    assert answer.query == "Which other tools do the same job as Quillp?"
    assert answer.found and "Inkr" in answer.passages[0].highlight_text


LEDGER = """# Counting stock

Tally-Skip

This method is called Tally-Skip after its two steps: tally every tenth crate, then skip the rest.

Tally-Skip is quick, and Tally-Skip needs no scanner; Tally-Skip works in any warehouse.

Another name for this method is the Brenn count, after Ola Brenn, who taught it to clerks in the 1950s.
"""


def test_it_is_what_the_document_calls_the_name_it_introduced(tmp_path, embedder):
    """After "This method is called Tally-Skip", the document says "this method": so does the search for "it"."""
    said = [{"role": "user", "content": "What is Tally-Skip?"},
            {"role": "assistant", "content": "> This method is called Tally-Skip after its two steps. [1]"}]
    assert resolve_query("Who taught it to clerks?", said, 2000) == "Who taught this method to clerks?"
    assert resolve_query("What are its steps?", said, 2000) == "What are this method's steps?"
    assistant = _loaded_assistant(tmp_path, embedder, {"ledger.md": LEDGER})
    answer = _chat(assistant, ["What is Tally-Skip?", "What's another name for it?"])
    assert answer.query == "What's another name for this method?"
    assert answer.found and "Brenn count" in answer.passages[0].highlight_text


PELLOR = """# Pellor

In 1820 Danish traders built a fort at the river mouth, and the settlement grew up around it under the name \
Nyhavn.

The town is called Pellor today, after the Pellor family, who bought the land and renamed the town in 1902.

The fort is now a museum of the river trade.
"""


def test_then_in_the_past_tense_is_the_time_the_conversation_is_about(tmp_path, embedder):
    assert refers_back("What was the town called then?") and refers_back("Who was king then?")
    assert not refers_back("What handlers can I add then?")  # "in that case": searched alone first
    assert not refers_back("Then what did he do?")
    assistant = _loaded_assistant(tmp_path, embedder, {"pellor.md": PELLOR})
    answer = _chat(assistant, ["When did the Danish traders build the fort?", "What was the town called then?"])
    assert answer.found and "Nyhavn" in answer.passages[0].text


CLUB = """# Harlow Rowing Club AGM, 12 March

Dev Patel was re-elected captain. Priya Nair was elected treasurer, taking over from Tom Reid.

Actions: Priya Nair to move the club's account to the new bank by the end of April. Dev Patel to book the \
boathouse for the summer regatta.

The meeting closed at 9 pm in the boathouse at Kingsmead.
"""


def test_she_after_a_who_question_is_the_person_the_answer_named(tmp_path, embedder):
    """ "Who was elected treasurer?" asks for a person, so no name in it says who "she" is next: the answer
    does. "What does she have to do by the end of April?" is searched as Priya Nair's, not alone (where "she"
    could be anyone) and not as the question's own words."""
    assistant = _loaded_assistant(tmp_path, embedder, {"club.md": CLUB})
    first = assistant.ask("Who was elected treasurer?")
    assert first.found and "Priya Nair was elected treasurer" in first.passages[0].highlight_text
    history = [{"role": "user", "content": "Who was elected treasurer?"},
               {"role": "assistant", "content": first.markdown}]
    answer = assistant.ask("What does she have to do by the end of April?", history=history)
    assert "Priya Nair" in answer.query and "she" not in answer.query.split()
    assert answer.found and "new bank" in answer.passages[0].highlight_text
    # a name that the answer gives as a place ("in the boathouse at Kingsmead") is not a person
    placed = [{"role": "user", "content": "Who rowed at the regatta?"},
              {"role": "assistant", "content": "> Crews from three clubs rowed at Kingsmead."}]
    assert "Kingsmead" not in resolve_query("When did she start?", placed, 500)


def test_he_or_she_is_never_a_country_or_initials():
    """ "When did Russia invade?" has Russia as its subject, but "What does he think …?" next is not Russia's
    question; nor is the "he" after "Who is injured?" a country the answer names. Initials ("the US") are not
    "he" either. With no one to stand for, the pronoun is left as typed (and the question is searched alone or
    after the previous one)."""
    def asked(question: str, quote: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": question}, {"role": "assistant", "content": f"> {quote}"}]

    for history in [asked("When did Russia invade?", "Russia's annexation of Crimea in 2014."),
                    asked("Is the US leaving NATO?", "He reaffirmed the U.S. commitment to NATO."),
                    asked("Who is injured?", "The weather hangs over the Test between Australia and South Africa.")]:
        searched = resolve_query("What does he think about Ukraine joining NATO?", history, 500)
        assert searched.endswith("What does he think about Ukraine joining NATO?"), searched
    named = asked("Who is injured?", "Jason Gillespie was ruled out of the Test against South Africa.")
    assert "Jason Gillespie" in resolve_query("When will he be fit again?", named, 500)


def test_the_country_names_are_cldrs():
    """data/countries.json is what bench/countries.py writes from babel's CLDR data (rerun it after a babel
    upgrade): read at run time so the server never loads babel's locale data for ~300 names."""
    import json
    from importlib import resources

    from bench.countries import names

    shipped = json.loads(resources.files("docqa").joinpath("data/countries.json").read_text(encoding="utf-8"))
    assert shipped["names"] == names() and {"Russia", "South Africa", "United States"} <= set(shipped["names"])
