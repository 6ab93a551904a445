"""qa: answer French or English questions about news articles by quoting them verbatim, with citations.

The pipeline is load → clean → chunk → embed → index → query → rank → abstain → answer, one module per stage;
`QA` (in `qa.service`) is the API that the CLI, the web page and the evaluation all use.
"""

__version__ = "0.1.0"
