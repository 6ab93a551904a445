"""What kind of answer a question asks for (a date, a number, a person, a reason, a name) and whether a text holds one."""

from __future__ import annotations

import re

from .text import fold

# Things people ask the name of ("Quels hôpitaux…", "Which law firm…"), folded, singular and plural.
_NAMED_THINGS = ("hopital", "hopitaux", "etablissements?", "chu", "cliniques?", "journal", "journaux", "medias?", "sites?",
                 "entreprises?", "societes?", "firmes?", "groupes?", "organisations?", "organismes?", "associations?",
                 "ong", "agences?", "cabinets?", "hebergeurs?", "prestataires?", "fournisseurs?", "operateurs?",
                 "villes?", "pays", "regions?", "institutions?", "autorites?", "juridictions?", "tribunal", "tribunaux",
                 "plateformes?", "entrepots?", "projets?", "programmes?", "logiciels?", "applications?", "services?",
                 "hospitals?", "newspapers?", "outlets?", "media", "websites?", "companies", "company",
                 "firms?", "groups?", "organi[sz]ations?", "bodies", "body", "agency", "agencies", "ngos?", "providers?",
                 "hosts?", "suppliers?", "operators?", "cit(?:y|ies)", "countr(?:y|ies)", "authorit(?:y|ies)", "courts?",
                 "platforms?", "warehouses?", "projects?", "programm?es?", "apps?", "software")

# Words that cannot stand between "which" and the thing named ("What did the company say?" asks no name).
_FUNCTION_WORDS = tuple(rf"{w}\b" for w in ("did", "does", "do", "is", "are", "was", "were", "will", "would", "can",
                                              "has", "have", "had", "the", "a", "an", "les", "le", "la", "l", "des",
                                              "du", "de", "d", "est", "sont", "ont", "vont"))

# What kind of answer a question asks for, recognised on its folded text.
_QUESTION_TYPES = {
    # An amount of money: checked before "number", which "combien" and "how much" also open.
    "money": re.compile(r"\bcombien\b.*\b(?:coute|coutent|coutera|vaut|valent|paie|paye|payera|rapporte|gagne|touche|"
                        r"touchera|facture|debourse)\b|"
                        r"\b(?:quel|quelle|quels)(?: est| etait| sera| serait| a ete)?(?: le| la| les| l')? ?"
                        r"(?:prix|montant|budget|salaire|tarif|cout|remuneration|amende)\b|"
                        r"\bhow (?:much|big|large|high)\b.*\b(?:cost|costs|costed|pay|pays|paid|charge|charges|charged|"
                        r"earn|earns|worth|spend|spends|spent|money|fine|penalty)\b|"
                        r"\bwhat (?:is|was|will be|would be) the (?:cost|price|amount|budget|salary|fee|value|fine|penalty)\b|"
                        r"\b(?:what|which) (?:fine|penalty|price|amount|salary|budget|fee)\b"),
    # "quand même" / "quand bien même" ("anyway", "even if") ask for no date.
    "date": re.compile(r"\b(quand(?! (?:bien )?meme\b)|a quelle date|quelle date|en quelle annee|quelle annee|depuis quand|jusqu.a quand|"
                       r"quel jour|la date|when|what date|which date|the date|what day|what year|which year|since when|until when)\b"),
    "number": re.compile(r"\b(combien|quel nombre|quelle duree|how many|how much|how long|what number|what percentage)\b"),
    "reason": re.compile(r"\b(pourquoi|pour quelle raison|pour quelles raisons|why|for what reason)\b"),
    "person": re.compile(r"^(qui|who|whom)\b|\b(qui (?:a|est|sont|dirige|preside)|who (?:is|was|are|filed|said|leads|heads|runs|did))\b"),
    # A named body, company, place or publication: "Quels hôpitaux…", "Which law firm…", "Comment s'appelle…".
    "name": re.compile(r"\b(?:quel|quelle|quels|quelles|which|what)\s+(?:(?!" + "|".join(_FUNCTION_WORDS) + r")[a-z'-]+\s+){0,2}?"
                       r"(?:" + "|".join(_NAMED_THINGS) + r")\b|"
                       r"\bcomment s.?appell?e|\bcomment se nomme|\b(?:quel est|what is|what s) the name\b|\ble nom (?:[a-z]+ )?d|"
                       r"\bname of\b"),
}
# "un"/"une" are articles far more often than numbers: left out.
_NUMBER_WORDS = ("deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze", "douze", "treize",
                 "quatorze", "quinze", "seize", "vingt", "trente", "quarante", "cinquante", "soixante", "cent",
                 "mille", "million", "milliard", "dizaine", "douzaine", "quinzaine", "vingtaine", "trentaine",
                 "centaine", "millier",
                 "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
                 "fifteen", "twenty", "thirty", "forty", "fifty", "hundred", "thousand", "billion", "dozen")
_HAS_NUMBER = re.compile(r"\d|\b(" + "|".join(_NUMBER_WORDS) + r")s?\b")
_HAS_REASON = re.compile(r"\b(?:faute d|parce qu|puisqu|en raison d|a cause d|du fait d|afin d)|"
                         r"\b(?:car|grace a|pour que|raison|because|due to|since|as a result|in order to)\b")
_HAS_MONEY = re.compile(r"[€$£]|\b(?:euros?|dollars?|eur|usd|livres sterling|pounds?)\b")
_HAS_DATE = re.compile(r"\b(1[89]\d\d|20\d\d)\b|\b(janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|"
                       r"novembre|decembre|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|hier|aujourd.hui)\b")
# A name or body: a capitalised word that does not start the sentence, or an acronym.
_HAS_NAME = re.compile(r"(?<=[\w,;:»”\"’'] )[A-ZÀ-Ö][\w’'-]+|\b[A-Z]{2,}\b")


def question_type(question: str) -> str | None:
    """'money', 'date', 'number', 'reason', 'person', 'name' or None, from the question's interrogative words."""
    folded = fold(question)
    for kind, pattern in _QUESTION_TYPES.items():
        if pattern.search(folded):
            return kind
    return None


def has_answer_type(text: str, kind: str | None) -> bool:
    """Whether a passage holds the kind of answer asked for (always true when no kind is asked)."""
    if kind == "date":
        return bool(_HAS_DATE.search(fold(text)))
    if kind == "number":
        return bool(_HAS_NUMBER.search(fold(text)))
    if kind == "money":
        folded = fold(text)
        return bool(_HAS_MONEY.search(folded) and _HAS_NUMBER.search(folded))
    if kind == "reason":
        return bool(_HAS_REASON.search(fold(text)))
    if kind in ("person", "name"):
        return bool(_HAS_NAME.search(text))
    return True
