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
