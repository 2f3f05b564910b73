"""The document a question names (rag_engine/naming.py): sibling documents whose passages read alike."""

from rag_engine.naming import named_documents

STANDARD, PLUS, HANDBOOK = "standard", "plus", "handbook"
PASSAGES = [
    (STANDARD, "Northwind_Standard_Benefits_Details.pdf", "Northwind Standard covers hearing tests. Northwind Health pays claims."),
    (STANDARD, "Northwind_Standard_Benefits_Details.pdf", "Under Northwind Standard, prior authorization is needed for MRI scans."),
    (PLUS, "Northwind_Health_Plus_Benefits_Details.pdf", "Northwind Health Plus covers hearing aids up to $1,500."),
    (PLUS, "Northwind_Health_Plus_Benefits_Details.pdf", "Northwind Health reviews prior authorization requests for Northwind Health Plus."),
    (HANDBOOK, "employee_handbook.pdf", "Performance reviews are held every year."),
]


def test_a_title_phrase_that_only_its_document_uses_names_it():
    named = named_documents("What is prior authorization in Northwind Standard?", PASSAGES)
    assert named.documents == {STANDARD}
    assert named_documents("Does Northwind Health Plus cover hearing aids?", PASSAGES).documents == {PLUS}
    # a file name reads as its words
    assert named_documents("What does the employee_handbook.pdf say about reviews?", PASSAGES).documents == {HANDBOOK}


def test_a_phrase_both_siblings_use_names_neither():
    # "Northwind Health" is in one title only, but both plans' passages say it
    assert not named_documents("What services does Northwind Health cover?", PASSAGES)
    assert not named_documents("How do I file a claim?", PASSAGES)


def test_a_passage_that_names_the_document_itself_still_counts():
    named = named_documents("Does Northwind Standard cover contact lenses?", PASSAGES)
    comparison = "Northwind Health Plus covers contact lenses; Northwind Standard only covers exams and glasses."
    assert named.covers(PLUS, comparison)
    assert not named.covers(PLUS, "Northwind Health Plus covers contact lenses.")
    assert named.covers(STANDARD, "Glasses are covered.")


def test_a_name_written_short_is_spelled_as_its_title_spells_it():
    from rag_engine.naming import spelled_as_titled

    titles = [title for _, title, _ in PASSAGES]
    # "I mean the Plus plan" after a Northwind Standard question is rewritten as "Northwind Plus plan"
    assert spelled_as_titled("Does Northwind Plus plan cover emergency services?", titles) == \
        "Does Northwind Health Plus plan cover emergency services?"
    # written as a title has it, or as several titles would have it, or more than one word short: left alone
    for text in ("Does Northwind Standard cover it?", "What are the Northwind Benefits?", "What is in Northwind Details?",
                 "Does Contoso Electronics pay for it?", "What about PerksPlus?"):
        assert spelled_as_titled(text, titles) == text


def test_the_engine_spells_a_short_name_out_before_it_searches(kb):
    # the rewrite cannot know the brand's full name ("I mean the Plus plan" after a Northwind Standard
    # question gives "Northwind Plus plan"); the engine reads it from the tenant's titles
    kb.ingest("t-names", text="Northwind Standard does not cover emergency services.",
              title="Northwind_Standard_Benefits_Details.pdf")
    kb.ingest("t-names", text="Northwind Health Plus covers emergency services, in and out of network.",
              title="Northwind_Health_Plus_Benefits_Details.pdf")
    history = [("user", "Does Northwind Standard cover emergency services?"), ("assistant", "No, it does not.")]
    prepared = kb._prepare("t-names", "I mean the Plus plan, does that one?", history)
    assert prepared.standalone == "Does Northwind Health Plus plan cover emergency services?"
    answer = kb.answer("t-names", "I mean the Plus plan, does that one?", history=history)
    assert answer.answered and answer.sources[0].title == "Northwind_Health_Plus_Benefits_Details.pdf", answer


def test_a_short_name_is_spelled_from_the_asking_tenants_titles_only(kb):
    kb.ingest("t-spell-a", text="Northwind Health Plus covers emergency services.",
              title="Northwind_Health_Plus_Benefits_Details.pdf")
    kb.ingest("t-spell-b", text="Northwind Standard covers doctor visits.", title="Northwind_Standard_Benefits_Details.pdf")
    # tenant b holds no title "Northwind Health Plus": its customers' "Northwind Plus" is left as written
    assert kb._prepare("t-spell-b", "Does Northwind Plus cover emergency services?", None).standalone == \
        "Does Northwind Plus cover emergency services?"
    assert kb._prepare("t-spell-a", "Does Northwind Plus cover emergency services?", None).standalone == \
        "Does Northwind Health Plus cover emergency services?"
    # a title added later is read at once by the process that ingested it
    kb.ingest("t-spell-b", text="Northwind Health Plus covers more.", title="Northwind_Health_Plus_Benefits_Details.pdf")
    assert kb._prepare("t-spell-b", "Does Northwind Plus cover emergency services?", None).standalone == \
        "Does Northwind Health Plus cover emergency services?"
