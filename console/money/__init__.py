"""资金 (Money): the finance views and actions of the console — receivables and payables (aging,
statements, money in and out, matching), order margin, 72-hour cash, the books (reports, close),
farmer settlements, vouchers and mapping rules. Each page reads one query of models/queries and
each action runs one operation of models/operations: the console adds no rule of its own.
"""

from console.money import books, cash_margin, receivables, rules, settlements  # noqa: F401  (routes)
