"""Which params matter: pure functions over a study's space and its completed trials (no Flask, no SQL).

- encoding.py: trials as one bounded column per param (log, steps, choices and `when` conditions)
- forest.py: a random forest decomposed by functional ANOVA (Hutter, Hoos & Leyton-Brown 2014)
- grey.py: grey relational analysis (Deng 1982)
- analysis.py: both methods on one set of trials, as the API answers them

numpy is loaded with the space already; scikit-learn only inside the function that fits the forest, so
importing the service never loads it.
"""
