"""How a question is read before it is searched: compound questions split into their asks,
typos respelled as the tenant's passages spell the words (and English words left alone)."""

from __future__ import annotations

import pytest

from rag_engine.followups import split_compound
from rag_engine.gate import person_named, value_missing
from rag_engine.spelling import corrections, respell
from rag_engine.types import Hit


def hit(text: str, section: str = "") -> Hit:
    return Hit(chunk_id="c1", document_id="d1", title="Benefits.pdf", text=text, score=1.0, section=section)


def test_a_compound_question_splits_into_asks_that_keep_the_subject():
    asks = split_compound("How can I coordinate benefits under Northwind Health Plus when using an in-network "
                          "provider, and what are the typical copayments for specialist visits?")
    assert asks == ["How can I coordinate benefits under Northwind Health Plus when using an in-network provider",
                    "what are the typical copayments for specialist visits? Northwind Health Plus"]
    assert split_compound("What is the deductible and how much is the copay for specialists?") == \
        ["What is the deductible", "how much is the copay for specialists?"]


def test_a_single_ask_is_not_split():
    assert split_compound("Does Northwind Standard cover hearing aids and cochlear implants?") == []
    assert split_compound("What is PerksPlus? How much?") == []  # the second part is no question of its own


def test_a_typo_is_respelled_from_the_passages_but_an_english_word_is_not():
    hits = [hit("The plan covers hearing tests and hearing aids. Every sale is final.", section="Hearing Care")]
    fixes = corrections({"hearin": 0, "aid": 3}, hits, "Are hearin aids covered?")
    assert fixes == {"hearin": "hearing"}
    assert respell("Are hearin aids covered?", fixes) == "Are hearing aids covered?"
    # "scale" is no typo of "sale": an English word the documents don't use stays as asked (the gate decides)
    assert corrections({"rate": 0, "scale": 0}, hits, "What rating scale is used?") == {}
    assert corrections({"hear": 2}, hits, "Are hearing aids covered?") == {}  # nothing unknown: no lookup at all


def test_a_persons_name_is_told_from_a_role_and_the_company():
    asked = "Who is the current CEO of Contoso Electronics?"
    role = ("Contoso Electronics › Role Library › Chief Executive Officer",
            "Objective: The Chief Executive Officer (CEO) will provide strategic direction to Contoso Electronics.")
    named = ("Contoso Electronics › About us", "Our CEO, Maria Okafor, founded the company in 2004.")
    assert person_named(asked, [role]) == 0.0
    assert person_named(asked, [role, named]) == 1.0
    assert person_named("Who is eligible for PerksPlus?", [role]) == 1.0  # no name asked for


def test_the_tenants_everyday_capitalised_words_are_no_name():
    asked = "What is the name of the Vice President of Human Resources?"
    passage = ("Role Library › Vice President of Human Resources",
               "Requires a Bachelor's Degree; reports to Contoso Electronics' board.")
    assert person_named(asked, [passage]) == 1.0  # without the tenant's counts these look like names
    everyday = {"bachelor", "contoso", "electron", "degre"}
    assert person_named(asked, [passage], common_word=lambda lexeme: lexeme in everyday) == 0.0


def test_a_questions_phrasing_words_are_not_topic_words():
    from rag_engine.text import topic_lexemes

    # PostgreSQL's lexemes of "How much does PerksPlus give me per year? It doesn't say" (with counts)
    lexemes = {"give": 3, "much": 14, "per": 8, "perksplus": 5, "year": 60, "doesn": 0, "say": 40}
    assert topic_lexemes(lexemes) == {"perksplus": 5, "year": 60, "say": 40}


def test_asked_outright_for_an_amount_a_time_or_a_count_and_none_there_is_no_answer():
    premiums = ["Premiums are the amount of money that you will need to pay each month for your coverage."]
    assert value_missing("How much is the monthly premium for family coverage?", premiums)
    assert not value_missing("How much is the monthly premium?", ["The premium is $120 per month."])
    assert not value_missing("How much does the class cost?", ["Classes are free for members."])
    history = ["Contoso Electronics is a leader in the aerospace industry."]
    assert value_missing("When was Contoso Electronics founded?", history)
    assert not value_missing("When can I enroll?", ["You can enroll during the open enrollment period."])
    assert not value_missing("When does the shop open?", ["The shop opens at nine and closes at six."])
    assert not value_missing("How long is the warranty?", ["The warranty lasts two years."])
    assert value_missing("How many weeks of leave do I get?", ["Leave is granted by your manager."])
    # a count is a number of the thing counted, not any number
    assert value_missing("How many employees does Contoso have?", ["Mentor employees across the operations department, which has 3 teams."])
    assert not value_missing("How many visits do I get?", ["Up to 20 physical therapy visits are covered."])
    assert not value_missing("How many visits do I get?", ["Visits: 12 per calendar year"])
    # "costs" or "when" inside a question asks for no figure: "how does X affect my costs?" is answered in words
    assert not value_missing("How does an in-network provider affect my healthcare costs?", premiums)
    assert not value_missing("What discount do I get when I buy products?", history)


def test_asked_what_a_limit_or_an_amount_is_a_figure_of_something_else_is_no_answer():
    out_of_pocket = ["Out-of-Pocket Maximum The out-of-pocket maximum for Northwind Standard is $6,000 per person."]
    dental = ["Dental Care Regular check-ups with your dentist help to prevent dental injuries."]
    names = {"northwind", "standard", "benefit", "detail"}  # the documents' titles say nothing of the topic
    assert value_missing("What is the annual maximum benefit for dental care under Northwind Standard?",
                         out_of_pocket + dental, names)
    assert not value_missing("What is the out-of-pocket maximum for Northwind Standard?", out_of_pocket, names)
    assert not value_missing("What's the yearly limit on dental cleanings?",
                             ["Dental cleanings are covered twice a year, up to 2 visits."], names)
    assert not value_missing("What is the maximum for dental care?", ["Dental care has no maximum."], names)
    # an amount asked for by name, however the question opens
    assert value_missing("What is the monthly premium for family coverage?", dental)
    assert not value_missing("What is the deductible for Northwind Standard?", ["The deductible is $2,000."])
    # a rating is a figure too, and "Northwind Health's" names whose
    roles = ["Customer Service Manager: lead the team that answers customers' questions."]
    assert value_missing("What is Northwind Health's customer satisfaction rating?", roles)
    assert not value_missing("What is Northwind Health's customer satisfaction rating?",
                             ["Customer satisfaction with Northwind Health is rated 4.6 out of 5."])
    # "What rating scale is used …?", "What percentage does … pay?": a figure asked for, however put
    reviews = ["Performance Reviews: a written summary includes a rating of the employee's performance."]
    assert value_missing("What rating scale is used in Contoso performance reviews?", reviews)
    assert not value_missing("What rating scale is used in Contoso performance reviews?",
                             ["Performance reviews rate each goal on a scale of 1 to 5."])
    assert not value_missing("What percentage does Northwind pay for specialist visits?",
                             ["Northwind pays 80% of the allowed amount for specialist visits."], {"northwind"})
    # a web address is a domain, and an e-mail address names none
    contact = ["Questions about our privacy policies go to the Privacy Officer at privacy@contoso.com."]
    assert value_missing("What is the address of that website?", contact)
    assert not value_missing("What is the address of that website?", ["See contoso.com/privacy for changes."])
    # an identifier holds a digit; asked where to find it, words answer
    forms = ["Include your name, address and policy number on the claim form."]
    assert value_missing("What is the group policy number of the Standard plan?", forms)
    assert not value_missing("What is my member ID?", ["Member ID: NW-20931"])
    # … beside a word of what is asked for: a year in an act's name is no policy number
    act = ["OTHER INFORMATION ABOUT THIS PLAN: Women's Health and Cancer Rights Act of 1998"]
    assert value_missing("What is the group policy number of Contoso's Northwind Standard plan?", act)
    assert not value_missing("What is Contoso's group policy number?", ["Your group policy number is 40-1123."])
    assert not value_missing("Where do I find my policy number?", forms)
    # "cost-effective" is no cost, a limitation is no limit, and the costs of something are answered in words
    assert not value_missing("What are the costs of skipping prior authorization?",
                             ["Without prior authorization you may be responsible for the full cost."])
    assert not value_missing("What is the process for ensuring cost-effective care?", dental)
    assert not value_missing("What are the limitations of the Right of Recovery provision?", dental)


def test_a_document_named_by_its_file_is_read_as_words():
    from rag_engine.followups import spelled_out_names

    assert spelled_out_names("What does the Northwind_Standard_Benefits_Details.pdf say about copays?") == \
        "What does the Northwind Standard Benefits Details say about copays?"
    assert spelled_out_names("Is it in the Benefits Details.pdf or acme-faq.html?") == \
        "Is it in the Benefits Details or acme-faq?"
    # identifiers are not file names: PostgreSQL splits them as the passages were split
    assert spelled_out_names("The origin of the CRF01_1b2k protein, version 2.5") == \
        "The origin of the CRF01_1b2k protein, version 2.5"



def test_which_of_a_kind_named_at_once_is_no_reference_to_the_turn_before():
    from rag_engine.followups import is_self_contained

    assert is_self_contained("Which dentists in Denver are in the Northwind network?")
    assert is_self_contained("Which HR representative handles PerksPlus questions?")
    # these do point back
    for question in ("Which is cheaper?", "Which one covers dental?", "Which of them covers dental care for kids?",
                     "Which plan covers it?"):
        assert not is_self_contained(question), question


def test_a_possessive_after_a_name_the_question_gives_points_to_that_name():
    from rag_engine.followups import continues_explicitly, is_self_contained

    assert is_self_contained("What benefits does Fabrikam offer its employees?")
    assert is_self_contained("What does Contoso pay its interns?")
    # with no name of its own, the possessive points back
    for question in ("Is its decision final?", "What are their opening hours?", "Does it cover their children?"):
        assert not is_self_contained(question) and continues_explicitly(question), question


def test_a_correction_to_a_variant_keeps_the_brand_it_is_a_variant_of():
    from rag_engine.followups import plan_searches

    def standalone(previous, question):
        return plan_searches([("user", previous), ("assistant", "…")], question)[1]

    assert standalone("What is the copay for primary care visits under Northwind Health Plus?",
                      "Sorry, I mean the Standard plan.") == \
        "What is the copay for primary care visits under Northwind Standard plan?"
    assert standalone("Does Acme Pro include free shipping?", "I mean Acme Basic") == \
        "Does Acme Basic include free shipping?"
    assert standalone("How much does Northwind Health Plus pay for hearing aids?", "what about the Standard plan?") == \
        "How much does Northwind Standard plan pay for hearing aids?"
    # a name is no variant: it replaces the name before it whole
    assert standalone("Who is Mary Jones?", "What about John Smith?") == "Who is John Smith?"


REWRITES = [  # (the question before, the follow-up, what it asks)
    # what is meant, without the question it trails
    ("Does Northwind Standard cover emergency services?", "I mean the Plus plan, does that one?",
     "Does Northwind Plus plan cover emergency services?"),
    # a phrase with its own preposition takes the place of the old one's ("… about my to report …" before) …
    ("Who do I email about my personal information at Contoso?", "No, I meant to report unethical behaviour.",
     "Who do I email to report unethical behaviour at Contoso?"),
    # … so does one with the same preposition; another is added, not swapped
    ("How much does shipping cost for small orders?", "and what about for large orders?",
     "How much does shipping cost for large orders?"),
    ("What is the copay for specialists?", "what about in the Plus plan?",
     "What is the copay for specialists in the Plus plan?"),
    ("Does PerksPlus cover gym memberships?", "what about for my spouse?",
     "Does PerksPlus cover gym memberships for my spouse?"),
    # a narrower kind of what was asked about takes its place, modifiers and all
    ("What's the deductible for Northwind Standard?", "Actually I'm asking about the prescription drug deductible.",
     "What's the prescription drug deductible for Northwind Standard?"),
    ("What is the copay for primary care visits under Northwind Health Plus?", "what about specialist visits?",
     "What is the copay for specialist visits under Northwind Health Plus?"),
    ("How long does standard shipping take?", "what about express shipping?", "How long does express shipping take?"),
    # "and for …?" asks the question before for them instead; "and if …?" is still read with it
    ("What is the Northwind Standard deductible for an individual?", "And for a family?",
     "What is the Northwind Standard deductible for a family?"),
    ("How long do I have to appeal a denied claim?", "and if it's urgent?",
     "How long do I have to appeal a denied claim? and if it's urgent?"),
    # a plan named when the question named none is added with what ties it on
    ("What is the copay for specialists?", "and in the Plus plan?", "What is the copay for specialists in the Plus plan?"),
    ("What is the copay for specialists?", "and the Plus plan?", "What is the copay for specialists in the Plus plan?"),
    # "I meant" is read whole (it was read as "I mean" + "t Northwind Health Plus", and the "t …" replaced "file")
] + [("How long do I have to file an appeal with Northwind Standard?", correction,
      "How long do I have to file an appeal with Northwind Health Plus?")
     for correction in ("Sorry, I meant Northwind Health Plus.", "I meant Northwind Health Plus",
                        "no, I mean Northwind Health Plus")]


@pytest.mark.parametrize("previous,follow_up,asked", REWRITES)
def test_a_follow_up_is_read_as_the_question_it_asks(previous, follow_up, asked):
    from rag_engine.followups import plan_searches

    assert plan_searches([("user", previous), ("assistant", "…")], follow_up)[1] == asked


def test_what_about_something_else_asks_the_same_question_about_it_instead():
    from rag_engine.followups import plan_searches

    def standalone(previous, question):
        return plan_searches([("user", previous), ("assistant", "…")], question)[1]

    assert standalone("Does PerksPlus cover gym memberships?", "what about medical treatments?") == \
        "Does PerksPlus cover medical treatments?"
    assert standalone("What is the copay for primary care visits under Northwind Health Plus?",
                      "what about specialists?") == "What is the copay for specialists under Northwind Health Plus?"
    assert standalone("What is the deductible for an individual?", "How about families?") == \
        "What is the deductible for families?"
    # nothing asked about after a verb or a preposition to replace: the new thing is added to the question
    assert standalone("When is the store open?", "what about sundays?") == "When is the store open sundays?"
    assert standalone("How much does it cost?", "what about shipping?") == "How much does it cost shipping?"


def test_a_clarification_of_the_answer_continues_the_conversation():
    from rag_engine.followups import continues_explicitly, is_self_contained

    for question in ("Do you mean 90 days after the service or after I get the bill?",
                     "You mean the in-network deductible?", "So you mean I pay nothing?",
                     "Does that mean I need a referral first?"):
        assert continues_explicitly(question) and not is_self_contained(question), question
    # a question that merely contains the words is no clarification
    assert is_self_contained("What do you mean by coinsurance in the Northwind Standard plan?")


def test_a_follow_up_whose_own_words_no_document_holds_is_unknown_to_the_tenant():
    from rag_engine.gate import unknown_words

    # {lexeme: chunks holding it} of "How much does Acme Pro cost? Is there a family version of it?"
    lexemes = {"acm": 3, "pro": 2, "cost": 4, "famili": 0, "version": 0}
    assert unknown_words("Is there a family version of it?", lexemes)
    assert not unknown_words("And what does it cost?", lexemes)
    assert not unknown_words("What do I get for it?", lexemes)  # no word of its own: it continues entirely
