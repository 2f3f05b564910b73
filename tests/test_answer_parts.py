"""How the offline composer reads a passage into the parts an answer is made of: label lines head
their paragraph, a list keeps its intro, and the cheap pre-selection keeps what the question asks for."""

from __future__ import annotations

import numpy as np

from rag_engine.answering import split_sentences
from rag_engine.answer_parts import units_of
from rag_engine.answer_text import with_label
from rag_engine.composer import FEATURES, ExtractiveComposer
from rag_engine.text import stems
from rag_engine.types import Hit

COPAYS = """When using the plan, you may be responsible for a copayment for certain services.
In-Network Copays:
For in-network services, copayments are lower. The copayment for primary care visits is around $20, while specialist visits have a copayment of around $50.
Out-of-Network Copays:
The copayment for primary care visits is typically around $50, while specialist visits have a copayment of around $75.
Tips:"""


def hit(text: str, section: str = "Plan › Copayments", rank: int = 0) -> Hit:
    return Hit(chunk_id=f"c{rank}", document_id="d1", title="Benefits.pdf", text=text, score=1.0 - rank / 10,
               section=section, page=11)


def test_a_label_line_heads_its_paragraph_and_labels_its_figures():
    units = units_of([hit(COPAYS)], split_sentences)
    texts = [u.text for u in units]
    assert "In-Network Copays:" not in texts and "Tips:" not in texts  # labels are no sentences of their own
    first, twenty, fifty = units[1], units[2], units[3]
    assert first.section == "Plan › Copayments › In-Network Copays"
    assert with_label(first) == "In-Network Copays: For in-network services, copayments are lower."
    # a figure further down the paragraph keeps the label too, however long its sentence
    assert with_label(twenty).startswith("In-Network Copays: The copayment for primary care visits is around $20")
    assert with_label(fifty).startswith("Out-of-Network Copays: The copayment for primary care visits is typically "
                                    "around $50")
    assert with_label(units[0]) == units[0].text  # no label over it
    # a chapter's title in capitals qualifies nothing, nor does a heading that asks (no question in an answer)
    maximum = "Northwind Health Plus has an out-of-pocket maximum of $4,000 per year."
    assert with_label(units_of([hit(maximum, section="Plan › DEFINITIONS")], split_sentences)[0]) == maximum
    support = units_of([hit("Call 1-800-555-0199 or write to help@acme.example.", section="FAQ › How do I contact "
                                                                                         "support?")], split_sentences)
    assert with_label(support[0]) == "Call 1-800-555-0199 or write to help@acme.example."


def test_a_label_is_said_once_for_the_parts_under_it():
    split = ("Split Copay For Office Visits:\nOffice visits with primary care physicians are subject to a $35 copay. "
             "Office visits with specialists are subject to a $60 copay.")
    composer = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0)
    answer = composer.compose("What are the split copays for office visits?", np.ones(64) / 8,
                              [hit(split, section="Plan › Copays")]).text
    assert answer == ("Split Copay For Office Visits: Office visits with primary care physicians are subject to a $35 "
                      "copay. [1] Office visits with specialists are subject to a $60 copay. [1]"), answer


def test_a_label_over_a_list_is_the_lists_intro():
    units = units_of([hit("Primary Responsibilities:\n- Lead the team\n- Manage the budget")], split_sentences)
    intro = units[0]
    assert intro.text == "Primary Responsibilities:" and [i.text for i in intro.items] == ["Lead the team",
                                                                                          "Manage the budget"]


def test_a_short_list_intro_joins_the_sentence_it_finishes():
    text = "Some services are exempt from prior authorization. These include:\n- Immunizations\n- X-Ray services"
    units = units_of([hit(text)], split_sentences)
    intro = units[0]
    assert intro.text == "Some services are exempt from prior authorization. These include:"
    assert [i.text for i in intro.items] == ["Immunizations", "X-Ray services"]


def test_a_list_intro_that_points_back_joins_the_sentence_it_points_to():
    # "These include …:" says what is listed only with the sentence before it (PerksPlus' exclusions)
    text = ("There is also a list of things that are not covered under the program. These include but are not "
            "limited to:\n- Medical treatments and procedures\n- Food and supplements")
    intro = units_of([hit(text)], split_sentences)[0]
    assert intro.text.startswith("There is also a list of things that are not covered") and \
        intro.text.endswith("These include but are not limited to:")
    assert [i.text for i in intro.items] == ["Medical treatments and procedures", "Food and supplements"]
    # a list intro that names what it lists stands alone
    text = "Members pay nothing for preventive care. The following screenings are covered in full:\n- Mammograms"
    units = units_of([hit(text)], split_sentences)
    assert [u.text for u in units[:2]] == ["Members pay nothing for preventive care.",
                                           "The following screenings are covered in full:"]
    assert [i.text for i in units[1].items] == ["Mammograms"]


class CountingModel:
    """Embeds nothing meaningful; records which texts the composer chose to embed."""

    def __init__(self):
        self.embedded = []

    def get_text_embedding_batch(self, texts):
        self.embedded.extend(texts)
        return [np.ones(4, dtype=np.float32) / 2 for _ in texts]


def test_the_sentence_holding_the_asked_value_is_embedded_though_its_passage_ranks_low():
    filler = "\n".join(f"Copayments for a specialist are explained in section {n} of this booklet for members."
                       for n in "ABCDEFGHIJ")
    hits = [hit(filler, rank=0), hit(filler.replace("booklet", "guide"), rank=1),
            hit("Specialist visits have a copayment of around $50 under the plan.", rank=4)]
    model = CountingModel()
    composer = ExtractiveComposer(model, split_sentences, max_units=8)
    composer.score("How much is the copayment for a specialist?", np.ones(4) / 2, hits)
    assert len(model.embedded) == 8
    assert any("$50" in text for text in model.embedded)


class SameVectorModel:
    def get_text_embedding_batch(self, texts):
        return [np.ones(4, dtype=np.float32) / 2 for _ in texts]


def test_an_item_left_out_of_a_list_in_the_answer_joins_that_list_not_a_second_one():
    items = ["Gym memberships", "Personal training sessions", "Yoga and Pilates classes", "Fitness equipment purchases",
             "Sports team fees", "Health retreats and spas", "Outdoor adventure activities", "Group fitness classes",
             "Virtual fitness programs such as online yoga"]
    text = "PerksPlus covers a wide range of fitness activities, including:\n" + "\n".join(f"- {i}" for i in items)
    composer = ExtractiveComposer(SameVectorModel(), split_sentences, max_words=200, redundancy=0.0)
    answer = composer.compose("Does PerksPlus cover online yoga?", np.ones(4) / 2, [hit(text)]).text
    assert answer.count("\n\n- ") == 0, answer  # one list, not a list and then a stray item under it
    assert all(answer.count(f"- {i}") == 1 for i in items), answer


def test_a_point_made_again_in_other_words_is_left_out_but_a_new_figure_is_not():
    text = ("Out of network, you pay a greater portion of the costs.\n"
            "You will be responsible for a greater portion of the costs when a provider is out of network.\n"
            "Out of network, the copayment for a specialist is around $75.")
    composer = ExtractiveComposer(SameVectorModel(), split_sentences, redundancy=0.0)  # every pair: cosine 1
    answer = composer.compose("What do I pay out of network?", np.ones(4) / 2, [hit(text)]).text
    assert answer.count("greater portion of the costs") == 1, answer
    assert "$75" in answer, answer  # the same meaning, but a figure of its own


class DistinctVectorModel:
    """A vector of its own for every text (nearly orthogonal in 64 dimensions): no part repeats another. Its
    similarities to a question are noise, so the composers built on it leave the similarity floor off."""

    def get_text_embedding_batch(self, texts):
        vectors = [np.random.default_rng(sum(map(ord, text))).standard_normal(64).astype(np.float32) for text in texts]
        return [v / np.linalg.norm(v) for v in vectors]


def test_a_table_row_whose_values_the_answer_already_states_is_left_out():
    sentence = "Acme Pro members pay 49 dollars per year and get 10 percent off every order."
    pro = "Plan: Acme Pro; Price: 49 dollars per year"
    basic = "Plan: Acme Basic; Price: 19 dollars per year"
    composer = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0)
    answer = composer.compose("How much does an Acme membership cost?", np.ones(64) / 8,
                              [hit(sentence), hit(f"{pro}\n{basic}", section="Plans", rank=1)]).text
    assert sentence in answer and basic in answer, answer  # a row with a value of its own stays
    assert pro not in answer, answer


def test_a_short_item_whose_list_intro_is_in_another_passage_is_no_part_of_its_own():
    # The chunk opens mid-list: "- Certain Imaging Services" alone says nothing.
    text = ("- Certain Imaging Services\n- Certain Lab Tests\n"
            "Some pediatric services are exempt from prior authorization as well.")
    composer = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0)
    answer = composer.compose("Which services need no prior authorization?", np.ones(64) / 8, [hit(text)]).text
    assert "Imaging" not in answer and "Lab Tests" not in answer, answer
    assert "pediatric services are exempt" in answer, answer
    # an item of its own list (the intro in the same passage) is read with it as before
    listed = composer.compose("Which services need no prior authorization?", np.ones(64) / 8,
                              [hit("These services are exempt:\n- Certain Imaging Services\n- Certain Lab Tests")]).text
    assert "- Certain Imaging Services" in listed, listed


def test_a_follow_ups_answer_does_not_repeat_the_answer_before_it():
    lessons = ("Some of the lessons covered under PerksPlus include:\n- Skiing and snowboarding lessons\n"
               "- Scuba diving lessons\n- Surfing lessons")
    travel = "Travel expenses are not covered unless they are related to a fitness program."
    composer = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0)
    question = "Does PerksPlus cover ski lessons? Does it also pay for travel expenses?"
    said = "Yes, skiing and snowboarding lessons are covered, as are scuba diving and surfing lessons. [1]"
    before = composer.compose(question, np.ones(64) / 8, [hit(lessons), hit(travel, rank=1)]).text
    after = composer.compose(question, np.ones(64) / 8, [hit(lessons), hit(travel, rank=1)], said=said,
                             value_question="Does it also pay for travel expenses?").text
    assert "Skiing and snowboarding lessons" in before and "Travel expenses" in before, before
    assert "Skiing" not in after and "Travel expenses are not covered" in after, after
    # when all there is was said already, it is said again rather than nothing
    again = composer.compose(question, np.ones(64) / 8, [hit(lessons)], said=said,
                             value_question="Does it also pay for travel expenses?").text
    assert "Skiing and snowboarding lessons" in again, again
    # and what the customer asks about again is said again ("Which lessons?" after the list)
    asked_again = composer.compose(question, np.ones(64) / 8, [hit(lessons), hit(travel, rank=1)], said=said,
                                   value_question="Which scuba lessons exactly?").text
    assert "Scuba diving lessons" in asked_again, asked_again
    # a part that says the answer before again in a few more words is a repeat too
    iro = ("The Independent Review Organization is a third-party organization that reviews appeals and complaints "
           "about services that have been denied coverage.")
    final = "Once the organization has completed its review, it issues a formal decision."
    said_iro = ("The Independent Review Organization is a third-party organization that reviews appeals about "
                "services that were denied coverage. [1]")
    follow_up = composer.compose("What does the Independent Review Organization do? Is its decision final?",
                                 np.ones(64) / 8, [hit(iro), hit(final, rank=1)], said=said_iro,
                                 value_question="Is it final?").text
    assert "third-party organization" not in follow_up and "formal decision" in follow_up, follow_up


def test_a_what_is_question_prefers_the_sentence_that_says_what_it_is():
    from rag_engine.composer import defined_term, defines

    term = defined_term("What is prior-authorization in Northwind Standard?")
    assert term == defined_term("what is prior authorization?")
    assert defines("Prior-authorization is a process in which Northwind Health requires approval.", term)
    assert defines("Prior authorization refers to a review before the service.", term)
    assert not defines("Prior authorization can be a complicated process.", term)
    assert not defines("Northwind Health is the insurer.", term)
    assert defined_term("How do I get prior authorization?") == frozenset()
    # "of" belongs to what is asked about: "the benefits of X" is no definition of "benefits"
    assert not defines("Benefits are paid monthly.", defined_term("What are the benefits of in-network providers?"))

    passage = hit("Prior authorization can be a complicated process. Prior-authorization is a process in which "
                  "Northwind Health reviews a service before it is received.", section="")
    units = units_of([passage], split_sentences)
    composer = ExtractiveComposer(CountingModel(), split_sentences)
    ranked = composer.score("What is prior-authorization?", np.ones(4, dtype=np.float32) / 2, [passage],
                            weights={"prior": 1.0, "author": 1.0})
    assert [u.text for u in units] == [u.text for u in sorted(ranked, key=lambda u: u.order)]
    assert ranked[0].text.startswith("Prior-authorization is a process")


def test_a_question_about_limitations_prefers_the_sentences_that_say_what_is_not_covered():
    from rag_engine.composer import value_kinds

    assert value_kinds("What are the coverage limitations of the plan regarding clinical trials?") == ["limit"]
    assert value_kinds("Which exceptions apply?") == ["limit"] and value_kinds("What isn't covered?") == ["limit"]
    assert value_kinds("What does the plan cover?") == [] and value_kinds("Does it cover gym memberships?") == []
    passage = hit("The plan covers the cost of certain clinical trial services for common conditions. "
                  "Any experimental treatments that are not part of the clinical trial are excluded.", section="")
    composer = ExtractiveComposer(CountingModel(), split_sentences)
    weights = {"clinic": 1.0, "trial": 1.0}
    asked = composer.score("What are the limitations regarding clinical trials?", np.ones(4) / 2, [passage],
                           weights=weights)
    assert asked[0].text.startswith("Any experimental treatments"), [u.text for u in asked]
    plain = composer.score("What about clinical trials?", np.ones(4) / 2, [passage], weights=weights)
    assert plain[0].text.startswith("The plan covers"), [u.text for u in plain]


def test_each_ask_of_a_compound_question_gets_room_of_its_own():
    first = ["Claims are filed by the provider within a year of the visit.",
             "Members file claims themselves when a provider is out of network.",
             "A claim form lists the diagnosis codes and itemized charges.",
             "Filed claims are processed in about thirty days by the claims office.",
             "Denied claims can be appealed in writing with supporting records."]
    second = ["Hospice care includes nursing visits at home for terminally ill members.",
              "Respite care gives family caregivers short breaks during hospice.",
              "Grief counseling is offered to the family after a hospice patient dies.",
              "Hospice medications for pain relief are covered in full.",
              "A hospice team coordinates medical equipment and supplies."]
    hits = [hit("\n".join(first)), hit("\n".join(second), rank=1)]
    asks = [("How are claims filed?", np.ones(64) / 8), ("What does hospice care include?", np.ones(64) / 8)]
    parts = lambda answer: answer.count("[")  # noqa: E731 - one citation per part
    single = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0, ask_words=0, ask_parts=0)
    roomy = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0, ask_words=60, ask_parts=1)
    question = "How are claims filed, and what does hospice care include?"
    assert parts(single.compose(question, np.ones(64) / 8, hits, asks=asks).text) == 4
    answer = roomy.compose(question, np.ones(64) / 8, hits, asks=asks).text
    assert parts(answer) == 5 and "Hospice care" in answer, answer
    # a question of one ask keeps the usual room
    assert parts(roomy.compose("How are claims filed?", np.ones(64) / 8, hits).text) == 4


def test_a_question_in_the_document_is_no_part_of_an_answer():
    # "Who is eligible for Split Copay for Office Visits?" (a heading in question form) was quoted as a part
    text = ("Who is eligible for Split Copay for Office Visits?\nAll members of the plan are eligible for the split "
            "copay.\nWhat Is The Deadline For Submitting An Appeal?\nAppeals are filed within 180 days of a denial.")
    units = units_of([hit(text)], split_sentences)
    assert [u.text for u in units if ExtractiveComposer._usable(u)] == [
        "All members of the plan are eligible for the split copay.", "Appeals are filed within 180 days of a denial."]
    answer = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0).compose(
        "Who is eligible for the split copay?", np.ones(64) / 8, [hit(text)]).text
    assert "?" not in answer and "All members" in answer, answer


def test_a_sentence_after_a_one_item_list_starts_a_paragraph_of_its_own():
    from rag_engine.answer_text import _join_paragraphs

    text = _join_paragraphs(["The plan meets the ACA's requirements. [1]", "- Make sure you understand them. [2]",
                             "The group includes all eligible employees. [3]", "Spouses are eligible too. [3]"])
    assert text == ("The plan meets the ACA's requirements. [1]\n\n- Make sure you understand them. [2]\n\n"
                    "The group includes all eligible employees. [3] Spouses are eligible too. [3]")


def plan_hit(document_id: str, title: str, text: str, rank: int, section: str = "Prior authorization") -> Hit:
    """A passage of one of several documents (a plan's booklet), ranked ``rank``-th."""
    return Hit(chunk_id=f"c{rank}", document_id=document_id, title=title, text=text, score=1.0 - rank / 10,
               section=section, page=10 + rank)


def test_a_question_naming_a_document_is_not_answered_by_a_sentence_naming_its_sibling():
    standard, plus = "Northwind_Standard_Benefits_Details.pdf", "Northwind_Health_Plus_Benefits_Details.pdf"
    hits = [plan_hit("plus", plus, "Northwind Health Plus may require pre-authorization for certain services.\n"
                                   "Northwind Health Plus covers hearing aids in full.", 0),
            plan_hit("std", standard, "Northwind Standard requires pre-authorization before surgery.\n"
                                      "Unlike Northwind Health Plus, Northwind Standard needs pre-authorization "
                                      "for imaging.", 1),
            plan_hit("std", standard, "Some services need pre-authorization before they can be approved.", 2)] + [
            plan_hit("plus", plus, f"Northwind Health Plus reviews requests of kind {n} within days.", 3 + n)
            for n in range(4)]  # the sibling's passages say its name, as a booklet's do
    composer = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0, max_units=20)
    question = "What needs pre-authorization in Northwind Standard?"
    ranked = [u.text for u in composer.score(question, np.ones(64) / 8, hits, named=frozenset({"std"}))]
    assert not any(t.startswith("Northwind Health Plus") for t in ranked), ranked
    assert "Some services need pre-authorization before they can be approved." in ranked  # names no plan: stays
    assert any(t.startswith("Unlike Northwind Health Plus") for t in ranked), ranked  # a comparison stays
    # with no document named, every sentence is a candidate
    unnamed = [u.text for u in composer.score("What needs pre-authorization?", np.ones(64) / 8, hits,
                                              named=frozenset())]
    assert any(t.startswith("Northwind Health Plus may require") for t in unnamed), unnamed


def test_an_answer_about_the_named_document_quotes_no_other_documents_own_words():
    # "Sorry, I mean the Standard plan": the Plus booklet's copay sentence names no plan, so it is not dropped as
    # naming the sibling, but quoted beside the Standard one's it gives a second, contradicting figure.
    standard, plus = "Northwind_Standard_Benefits_Details.pdf", "Northwind_Health_Plus_Benefits_Details.pdf"
    theirs = "The copayment for primary care visits is typically around $20."
    ours = "Copays for office visits with a primary care physician may be $30."
    comparison = "Unlike Northwind Standard, the copayment for primary care visits is lower with this plan."
    handbook = "Employees pay the copayment for primary care visits at the time of the visit."  # not a sibling
    hits = [plan_hit("plus", plus, f"{theirs}\n{comparison}", 0, "Copayments"),
            plan_hit("std", standard, ours, 1, "Copayments"),
            plan_hit("hb", "employee_handbook.pdf", handbook, 2, "Copayments")]
    composer = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0, max_units=20)
    question = "What is the copay for primary care visits under Northwind Standard?"
    composition = composer.compose(question, np.ones(64) / 8, hits, named=frozenset({"std"}))
    assert ours in composition.text, composition.text
    assert theirs not in composition.text and handbook not in composition.text, composition.text
    assert comparison in composition.text, composition.text  # it names the plan asked about: it says which is which
    assert {theirs, handbook} <= {u.text for u in composition.ranked}  # the gate still reads everything found
    # with no document named, every sentence is an answer like any other
    unnamed = composer.compose("What is the copay for primary care visits?", np.ones(64) / 8, hits, named=frozenset())
    assert theirs in unnamed.text and handbook in unnamed.text, unnamed.text
    # and when the named document has nothing usable, what the others say is still better than nothing
    alone = composer.compose(question, np.ones(64) / 8, hits[:1], named=frozenset({"std"}))
    assert theirs in alone.text, alone.text
    # the insurer's name, which both booklets say, names neither plan: asked about Northwind Health Plus, the Standard
    # booklet's "Northwind Health …" sentence is still the other plan's
    brand = "Northwind Health sets the copayment for primary care visits at $30."
    asked_plus = "What is the copay for primary care visits under Northwind Health Plus?"
    plus_answer = composer.compose(asked_plus, np.ones(64) / 8, [hits[0], plan_hit("std", standard, brand, 1)],
                                   named=frozenset({"plus"}))
    assert theirs in plus_answer.text and brand not in plus_answer.text, plus_answer.text


def test_a_title_that_is_a_topic_or_a_compound_question_keeps_the_other_documents_answers():
    gym = "PerksPlus pays up to $1,000 a year for gym memberships."
    deductible = "The deductible for Northwind Standard is $2,000 per person, per year."
    hits = [plan_hit("perks", "PerksPlus.pdf", gym, 0, "Perks"),
            plan_hit("std", "Northwind_Standard_Benefits_Details.pdf", deductible, 1, "Deductibles")]
    composer = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0, max_units=20)
    named = frozenset({"perks"})
    # asked about PerksPlus alone, the plan's deductible is another document's answer
    alone = composer.compose("How much does PerksPlus pay per year?", np.ones(64) / 8, hits, named=named)
    assert gym in alone.text and deductible not in alone.text, alone.text
    # a compound question asks its second ask of the other documents
    asks = [("How much does PerksPlus pay per year", np.ones(64) / 8), ("what is the deductible", np.ones(64) / 8)]
    both = composer.compose("How much does PerksPlus pay per year, and what is the deductible?", np.ones(64) / 8,
                            hits, asks=asks, named=named)
    assert gym in both.text and deductible in both.text, both.text
    # a one-word title that is an English word names a topic ("hospice.md"), which other documents answer too
    nursing = "Hospice care covers nursing visits and respite stays."
    providers = "Choosing an in-network provider keeps your hospice costs lower."
    topic = composer.compose("What does hospice care cover?", np.ones(64) / 8,
                             [plan_hit("hospice", "hospice.md", nursing, 0, "Hospice"),
                              plan_hit("costs", "provider_costs.md", providers, 1, "Costs")],
                             named=frozenset({"hospice"}))
    assert nursing in topic.text and providers in topic.text, topic.text


def test_in_the_document_a_question_names_its_name_is_no_evidence():
    plus, perks = "Northwind_Health_Plus_Benefits_Details.pdf", "PerksPlus.pdf"
    directory = "Use the searchable directory on the Northwind Health Plus website to find in-network providers."
    costs = "When you use in-network providers, you will pay lower out-of-pocket costs."
    elsewhere = "Northwind Health Plus members get a discount on gym fees."  # another document naming it
    hits = [plan_hit("plus", plus, f"{directory}\n{costs}", 0, "In-network providers"),
            plan_hit("perks", perks, elsewhere, 1, "In-network providers")]
    composer = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0, max_units=20)
    question = "What are the benefits of using in-network providers according to Northwind Health Plus?"
    weights = {stem: 1.0 for stem in stems(question)}
    coverage = FEATURES.index("coverage")
    scored = {u.text: u for u in composer.score(question, np.ones(64) / 8, hits, weights=weights,
                                                named=frozenset({"plus"}))}
    # in the named booklet, only the words of what is asked count: the directory tip no longer outweighs the costs
    assert scored[directory].features[coverage] == scored[costs].features[coverage]
    # elsewhere, naming it says what a sentence is about
    assert scored[elsewhere].features[coverage] > 0
    unnamed = {u.text: u for u in composer.score(question, np.ones(64) / 8, hits, weights=weights,
                                                 named=frozenset())}
    assert unnamed[directory].features[coverage] > unnamed[costs].features[coverage]


def test_a_list_that_runs_onto_the_next_page_cites_that_page_on_its_items_there():
    text = ("To help manage the symptoms of TMJ disorders, the plan recommends the following tips:\n"
            "- Practice good posture when sitting and standing\n- Avoid chewing gum every day\n"
            "- Practice relaxation techniques such as deep breathing")
    spanning = Hit(chunk_id="c0", document_id="d1", title="Benefits.pdf", text=text, score=1.0, section="TMJ",
                   page=56, pages=(56, 56, 57, 57))
    composer = ExtractiveComposer(SameVectorModel(), split_sentences, max_words=200, redundancy=0.0)
    composition = composer.compose("What tips help with TMJ symptoms?", np.ones(4) / 2, [spanning])
    lines = composition.text.splitlines()
    assert lines[0].endswith("tips: [1]") and lines[1] == "- Practice good posture when sitting and standing", lines
    assert lines[2:] == ["- Avoid chewing gum every day [2]",
                         "- Practice relaxation techniques such as deep breathing [2]"], lines
    assert [s.page for s in composition.sources] == [56, 57]


def test_an_item_ranks_as_part_of_the_list_it_is_quoted_with():
    from rag_engine.answer_parts import Unit
    from rag_engine.composer import _as_part_of_list

    def unit(text, score, kind="sentence", parent=None):
        made = Unit(0, 0, 0, kind, text, 4, "In-network providers", score=score, parent=parent)
        if parent is not None:
            parent.items.append(made)
        return made

    tips = unit("When choosing an in-network provider, there are a few tips to keep in mind:", 6.0)
    directory = unit("Use the searchable directory to find in-network providers.", 10.0, "item", tips)
    short = unit("You can do this by:", 2.0)  # says nothing of its own: no judge of its list
    email = unit("Emailing the Compliance Officer at compliance@contoso.com.", 9.0, "item", short)
    strong = unit("PerksPlus covers a wide range of fitness activities, including but not limited to:", 12.0)
    gym = unit("Gym memberships", 8.0, "item", strong)
    _as_part_of_list([tips, directory, short, email, strong, gym])
    assert directory.score == 8.0  # (10 + min(10, 6)) / 2: its list is about choosing, not what is asked
    assert email.score == 9.0 and gym.score == 8.0  # a short intro, or a better one, changes nothing
    assert tips.score == 6.0 and strong.score == 12.0


def test_each_part_after_the_first_gains_for_the_question_words_no_part_has_said_yet():
    # "… for coordinating benefits with another employer plan and the Right of Recovery?": one ask (no question word
    # after "and"), two subjects; the Right of Recovery passage ranks first and could fill the whole answer.
    recovery = ["The Right of Recovery provision only applies to services covered under the plan.",
                "The Right of Recovery provision only applies to claims filed within six months.",
                "Under the Right of Recovery provision the plan may recover payments made in error.",
                "The Right of Recovery provision does not guarantee that any payment is recovered."]
    coordinating = ["To coordinate benefits, you must use an in-network provider of the plan.",
                    "Your other employer plan pays first, then this plan pays the remaining balance."]
    hits = [hit("\n".join(recovery), section="Plan › Right of Recovery"),
            hit("\n".join(coordinating), section="Plan › Coordinating Benefits with Other Employer Plans", rank=3)]
    question = "What are the conditions for coordinating benefits with other employer plans and the Right of Recovery?"
    weights = {w: 3.0 if w in stems("right recovery") else 1.0 for w in stems(question)}  # the rarer words

    def answer(fresh_coverage: float) -> str:
        composer = ExtractiveComposer(DistinctVectorModel(), split_sentences, min_similarity=0.0,
                                      fresh_coverage=fresh_coverage)
        return composer.compose(question, np.ones(64) / 8, hits, weights=weights).text

    assert "in-network provider" not in answer(0.0) and "remaining balance" not in answer(0.0)
    both = answer(ExtractiveComposer(SameVectorModel(), split_sentences).fresh_coverage)  # the default
    assert "Right of Recovery" in both and ("in-network provider" in both or "remaining balance" in both), both


def test_an_answer_does_not_open_on_a_sentence_that_leans_on_one_before_it():
    from rag_engine.answer_parts import Unit
    from rag_engine.answer_text import _opening_first

    def part(order, text):
        return Unit(hit=0, line=order, order=order, kind="sentence", text=text, page=1, section="")

    standing = "The copayment for primary care visits is around $30."
    # an opening that only frames the sentence is dropped; the best part stays first
    for opening, opened in (("For example, copays for office visits may be $20.",
                             "Copays for office visits may be $20."),
                            ("In conclusion, the plan makes exceptions.", "The plan makes exceptions."),
                            ("On the other hand, out-of-network care costs more.", "Out-of-network care costs more.")):
        chosen = [part(0, opening), part(1, standing)]
        assert [u.text for u in _opening_first(chosen)] == [opened, standing], opening
        assert chosen[0].text == opening  # the part itself (what the gate read) is untouched
    # a further point, or one that depends on what came before, gives way to the first part that stands alone
    for opening in ("This covers both the provider and the facility.", "Additionally, specialists cost $50.",
                    "In this case, you pay nothing.", "As a result, the claim is denied."):
        chosen = [part(0, opening), part(1, standing), part(2, "They are listed on your card.")]
        assert [u.order for u in _opening_first(chosen)] == [1, 0, 2], opening
    # a part that stands alone stays first, as it is; and when none does, the order stays
    alone = [part(0, "Overall, copays vary by provider."), part(1, "For example, $20.")]
    assert _opening_first(alone) == alone
    leaning = [part(0, "This is $20."), part(1, "They vary.")]
    assert _opening_first(leaning) == leaning


def test_parts_that_count_off_read_in_the_documents_order():
    from rag_engine.answer_parts import Unit
    from rag_engine.answer_text import _in_sequence

    def part(hit, order, text):
        return Unit(hit=hit, line=order, order=order, kind="sentence", text=text, page=1, section="")

    other = part(0, 0, "Your other plan pays first.")
    second = part(1, 12, "Second, it only applies to claims filed within six months.")
    first = part(1, 10, "First, it only applies to covered services.")
    loose = part(2, 20, "Claims are paid in 30 days.")
    assert [u.order for u in _in_sequence([other, second, loose, first])] == [0, 10, 20, 12]
    # passages that do not count off keep the order the answer chose
    plain = [part(1, 12, "It applies to claims."), part(1, 10, "It applies to services.")]
    assert _in_sequence(plain) == plain


class ScoredVectorModel:
    """Each text's vector is the question's direction scaled by how related the test says it is."""

    def __init__(self, related):
        self.related = related

    def get_text_embedding_batch(self, texts):
        vectors = []
        for text in texts:
            share = next((v for k, v in self.related.items() if k in text), 0.0)
            noise = np.random.default_rng(sum(map(ord, text))).standard_normal(64).astype(np.float32)
            noise -= noise.mean()  # orthogonal to the all-ones question
            noise /= np.linalg.norm(noise)
            vector = share * np.ones(64, dtype=np.float32) / 8 + np.sqrt(max(0.0, 1 - share ** 2)) * noise
            vectors.append(vector / np.linalg.norm(vector))
        return vectors


def test_a_part_far_less_similar_to_the_question_than_the_best_is_left_out():
    officer = "To change your personal information, contact the Privacy Officer at privacy@contoso.com."
    rights = "You have the right to request a copy of your personal information."
    duties = "Update a customer's email address and contact details when they write."  # their words, not the point
    model = ScoredVectorModel({"Privacy Officer": 0.8, "right to request": 0.5, "customer's email": 0.2})
    hits = [hit(f"{officer}\n{rights}"), hit(duties, section="Job Description", rank=1)]
    question = "Who do I contact about my personal information? What is their email address?"
    answer = ExtractiveComposer(model, split_sentences).compose(question, np.ones(64) / 8, hits).text
    assert officer in answer and rights in answer and duties not in answer, answer
    unfloored = ExtractiveComposer(model, split_sentences, min_similarity=0.0).compose(question, np.ones(64) / 8,
                                                                                       hits).text
    assert duties in unfloored, unfloored
