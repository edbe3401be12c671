"""Inspection plans: who each field division inspects next, by which selection path.

A plan is made from a stored scored list under each division's capacity, with a
randomised exploration share so that its outcomes give an unbiased estimate over every
eligible licensee (``docs/plans.md``).
"""
