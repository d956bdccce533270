"""Workflows: the only code that chains stages (nnU-Net keeps one composition point per
stage in ``plan_and_preprocess_api.py``; covplan keeps them all here).

- :mod:`covplan.workflows.plan`: plan, then preprocess (``covplan plan --preprocess``);
- :mod:`covplan.workflows.fit_budget`: plan with budget candidates, preprocess them, build a
  trainer of each to measure it, keep what fits (``--time-budget``);
- :mod:`covplan.workflows.plan_and_train`: plan, preprocess, train every fold, cross-validate;
- :mod:`covplan.workflows.tune`: a study's trials, here or as jobs, then its results.
"""
