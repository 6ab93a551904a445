"""What kind of answer a question asks for (a date, a number, a person, a reason, a name) and whether a text holds one."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType

from .text import fold, terms, words

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


# Publication words alone ("publié", "published") are left out: most such questions ask when a decision
# or a decree was published, which a byline's "Publié le…" does not answer.
_AUTHORSHIP = re.compile(r"\b(auteur|autrice|ecrit|ecrite|redige|signe|journaliste|"
                         r"author|wrote|written|writer|byline|journalist|reporter)\b")
# "l'article", "the piece" name the article itself.
_ARTICLE_NOUN = re.compile(r"\b(article|articles|piece|papier)\b")


# Words that name the kind of answer asked for ("En quelle année…", "What is the name of…"): the
# passage that answers holds the year or the name itself, rarely the word, so their absence from the
# articles says nothing about whether the articles answer.
ANSWER_FRAME_WORDS = frozenset({"annee", "annees", "date", "dates", "jour", "jours", "mois", "heure", "nom", "noms",
                                "nombre", "appelle", "appellent", "appele", "appelee", "appeles", "appelees",
                                "year", "years", "day", "days", "month", "months", "time", "name", "names",
                                "number", "called", "named"})


# "Combien de patients…", "How many employees…": the word after them names what is counted.
_COUNT_QUESTION = re.compile(r"\b(?:combien\s+d(?:e\s+|es\s+|')|how\s+many\s+)([^\W\d_]+)")
# Counted "words" whose answer is not "N <word>": a duration or an amount of money.
_NOT_COUNTED = frozenset({"temps", "argent", "time", "money"})
# How many words may stand between a number and the counted word ("quatre grands hôpitaux").
COUNT_WINDOW = 2


def counted_word(question: str) -> str | None:
    """The word a "how many / combien de" question counts ('patients'), or None for other questions."""
    match = _COUNT_QUESTION.search(fold(question))
    return match.group(1) if match and match.group(1) not in _NOT_COUNTED else None


def _is_number(token: str) -> bool:
    return token.isdigit() or bool(_HAS_NUMBER.fullmatch(token))


def counts(text: str, counted: set[str]) -> bool:
    """Whether a number stands before a word of `text` whose index term is in `counted`, with at most
    COUNT_WINDOW words between them: "quatre grands hôpitaux" counts hôpitaux; "les données de
    patients fournies par quatre hôpitaux" does not count patients.
    """
    tokens = words(text)
    for i, token in enumerate(tokens):
        if token[:1].isalpha() and set(terms(token)) & counted \
                and any(_is_number(t) for t in tokens[max(0, i - COUNT_WINDOW - 1):i]):
            return True
    return False


def asks_about_article(question: str) -> bool:
    """Whether a question is about an article itself (its author, its publication date), which bylines answer.

    "Which company does the article mention?" names the article but asks about its content."""
    folded = fold(question)
    return bool(_AUTHORSHIP.search(folded) or (_ARTICLE_NOUN.search(folded) and question_type(question) in ("person", "date")))


def names_article(question: str) -> bool:
    """Whether a question names the article ("l'article", "the piece"): "Qui a écrit Les Misérables ?" does not."""
    return bool(_ARTICLE_NOUN.search(fold(question)))


def question_type(question: str) -> str | None:
    """'money', 'date', 'number', 'reason', 'person', 'name' or None, from the question's interrogative words."""
    folded = fold(question)
    for kind, pattern in _QUESTION_TYPES.items():
        if pattern.search(folded):
            return kind
    return None


def name_terms(texts: Iterable[str]) -> set[str]:
    """The index terms of the names in some texts: capitalised words inside a sentence, and acronyms."""
    return {term for text in texts for match in _HAS_NAME.finditer(text) for term in terms(match.group(0))}


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


# Roles a person holds in a body, folded, French and English: the question words that ask who holds
# one ("Qui préside la CNIL ?", "Who heads the Health Data Hub?") and the passage words that name one.
ROLE_WORDS = frozenset({
    "president", "presidente", "presidents", "presidentes", "preside", "presidee", "presider", "presidait",
    "dirige", "dirigee", "diriger", "dirigeait", "dirigeant", "dirigeante", "dirigeants", "directeur", "directrice",
    "directeurs", "ministre", "ministres", "pdg", "patron", "patronne", "chef", "cheffe", "fondateur", "fondatrice",
    "fondateurs", "fonde", "fondee", "cofonde", "secretaire", "maire", "gouverneur", "commissaire",
    "tete",  # "à la tête de"
    "presides", "presided", "chair", "chairs", "chaired", "chairman", "chairwoman", "chairperson", "director",
    "directors", "directs", "head", "heads", "headed", "leads", "leader", "runs", "ceo", "minister", "ministers",
    "founder", "founders", "founded", "cofounded", "secretary", "spokesperson", "spokesman", "spokeswoman", "boss", "chief", "manager",
    "mayor", "governor", "commissioner",
})
# Interrogative words: a question without any ("président cnil") is a keyword query.
_INTERROGATIVES = frozenset({"qui", "que", "qu", "quoi", "quel", "quelle", "quels", "quelles", "lequel", "laquelle", "comment",
                             "pourquoi", "quand", "ou", "combien", "what", "who", "whom", "whose", "why", "when",
                             "where", "how", "which"})
_NAME_WORDS = frozenset({"nom", "noms", "appelle", "name", "names", "called"})
# How many words may stand between a role and its body: "président de l'ISOC", "ISOC president".
ROLE_WINDOW = 4


def asks_role_holder(question: str, kind: str | None) -> bool:
    """Whether a question asks who holds a role ("Qui préside la CNIL ?", "name of the health minister",
    or the keyword query "président isoc"), which only a passage naming that role in that body answers."""
    tokens = set(words(question))
    if not tokens & ROLE_WORDS:
        return False
    # A keyword query has no interrogative word and no question mark ("Is ISOC's appeal well founded?" is none).
    return kind == "person" or bool(tokens & _NAME_WORDS) or not (tokens & _INTERROGATIVES or "?" in question)


# Words that say a body came into being, French and English, folded: "Quand la CNIL a-t-elle été créée ?"
# asks for a date that only a passage saying so next to the body gives ("le Health Data Hub, la
# structure publique créée en 2019" does not date the CNIL).
CREATION_WORDS = frozenset({
    "cree", "creee", "crees", "creees", "creer", "creation", "fonde", "fondee", "fondes", "fondees", "fonder",
    "fondation", "naissance", "institue", "instituee",
    "created", "create", "founded", "established", "creation", "founding", "foundation", "birth", "instituted",
})


# How a ruling is asked about ("Quand le Conseil d'État rendra-t-il sa décision ?", "When did the court
# rule?") and the words that report one ("le Conseil d'État a rejeté le recours", "la Cnil a validé").
_RULING_QUESTION = re.compile(r"\brend\w*(?: \w+){0,2} (?:sa|son|leur|une|un) (?:decision|arret|jugement|verdict)\b|"
                              r"\bstatu(?:er|e|ee|era|erait|ait|ent)\b|\btranch(?:er|e|era|erait)\b|\bse prononc\w*|"
                              r"\bprononc(?:er|era|erait|e|ee)\b|\b(?:did|does|do|will|would|to) (?:\w+ ){0,4}rule\b|"
                              r"\brule(?:d|s)? on\b|\bruled\b|\bruling\b|\bverdict\b|\bjudge?ment\b")
RULING_WORDS = frozenset({
    "statue", "statuer", "tranche", "trancher", "rendu", "rendue", "jugement", "juge", "jugee", "verdict", "arret",
    "rejete", "rejetee", "rejette", "rejeter", "deboute", "annule", "annulee", "annuler", "suspendu", "suspendue",
    "valide", "validee", "valider", "confirme", "confirmee", "prononce", "ordonne",
    "ruled", "ruling", "rejected", "dismissed", "upheld", "annulled", "suspended", "validated", "confirmed",
    "judgment", "judgement", "ordered",
})
# The decision nouns of "rendre sa décision": the ruling itself, not what it rules on.
_RULING_NOUNS = frozenset({"decision", "decisions", "arret", "jugement", "verdict", "ruling", "judgment", "judgement"})
# An event a date question can ask about → the words a passage reports it with.
EVENT_WORDS = {"creation": CREATION_WORDS, "ruling": RULING_WORDS}


def asked_event(question: str, kind: str | None) -> str | None:
    """The event whose date a question asks for: "creation" ("In what year was the CNIL founded?"),
    "ruling" ("Quand le Conseil d'État rendra-t-il sa décision ?") or None."""
    if kind != "date":
        return None
    if set(words(question)) & CREATION_WORDS:
        return "creation"
    if _RULING_QUESTION.search(" ".join(words(question))):
        return "ruling"
    return None


def event_trigger_words(event: str) -> frozenset[str]:
    """The question words that name the event, left out of the body it happened to."""
    return EVENT_WORDS[event] | (_RULING_NOUNS if event == "ruling" else frozenset())


@lru_cache(maxsize=256)
def acronyms(text: str) -> Mapping[str, frozenset[str]]:
    """Acronyms an article defines, "Internet Society France (ISOC)": acronym term → the long form's terms.

    The long form is the shortest run of words before the parenthesis that starts with the acronym's
    first letter and holds its letters in order (ISOC in "Internet SOCiety", CNIL in "Commission
    Nationale de l'Informatique et des Libertés").
    """
    out: dict[str, frozenset[str]] = {}
    for match in re.finditer(r"\(([A-Z][A-Za-z]{1,9})\)", text):
        acronym = match.group(1).lower()
        before = re.split(r"[.,;:!?()\n]", text[max(0, match.start() - 120):match.start()])[-1]
        tokens = words(before)
        for size in range(1, min(len(tokens), 10) + 1):
            run = tokens[-size:]
            if run[0][:1] == acronym[0] and _in_order(acronym, "".join(run)):
                out[(terms(acronym) or [acronym])[0]] = frozenset(terms(" ".join(run)))
                break
    return MappingProxyType(out)  # cached: read-only


def _in_order(letters: str, text: str) -> bool:
    rest = iter(text)
    return all(letter in rest for letter in letters)


def with_aliases(body: set[str] | frozenset[str], aliases: Mapping[str, frozenset[str]]) -> set[str]:
    """A body's terms plus its other names in `aliases` (acronym ↔ long form): ISOC ↔ Internet Society France."""
    out = set(body)
    for acronym, long_form in aliases.items():
        if acronym in body:
            out |= long_form
        elif long_form and len(body & long_form) >= min(2, len(long_form)):
            out.add(acronym)
    return out


# What a person is, besides a role in a body: the words that answer "Qui est France Charruyer ?".
PROFESSION_WORDS = frozenset({
    "avocat", "avocate", "avocats", "associe", "associee", "journaliste", "chercheur", "chercheuse", "depute",
    "deputee", "senateur", "senatrice", "expert", "experte", "porte", "fondateur", "fondatrice", "membre",
    "lawyer", "attorney", "partner", "journalist", "researcher", "deputy", "senator", "expert", "member",
})
# "Qui est Nicolas Chagny ?", "who's France Charruyer": who a named person is. "Qui est le ministre…"
# (a role: asks_role_holder) and "Who is behind…" are other questions.
_IDENTITY = re.compile(r"^(?:qui (?:est|etait|sont)|c ?est qui|who(?: is| s| was| are))\s+(.+?)\s*$")
_NOT_A_NAME_START = frozenset({"le", "la", "les", "l", "un", "une", "des", "du", "de", "d", "ce", "cette", "celui",
                               "celle", "the", "a", "an", "this", "that", "behind", "responsible", "in", "on", "at",
                               "to", "for", "derriere", "responsable", "en"})  # "a" is also "à" folded
IDENTITY_MAX_WORDS = 4


def identity_subject(question: str) -> list[str] | None:
    """The words of the person a "who is X?" question asks about ("Qui est Nicolas Chagny ?" → nicolas,
    chagny), or None for other questions."""
    match = _IDENTITY.match(" ".join(words(question)))
    if match is None:
        return None
    subject = match.group(1).split()
    if (len(subject) > IDENTITY_MAX_WORDS or subject[0] in _NOT_A_NAME_START
            or set(subject) & (ROLE_WORDS | _INTERROGATIVES)):
        return None
    return subject


def names_role(text: str, body: set[str], roles: frozenset[str] = ROLE_WORDS) -> bool:
    """Whether a text names a role next to one of the body's terms: "Nicolas Chagny, président de
    l'ISOC" names ISOC's president; "le président d'ISOC … la CNIL" does not name the CNIL's."""
    tokens = words(text)
    for i, token in enumerate(tokens):
        if token in roles:
            near = tokens[max(0, i - ROLE_WINDOW):i] + tokens[i + 1:i + 1 + ROLE_WINDOW]
            if set(terms(" ".join(near))) & body:
                return True
    return False
