"""The least data each model needs before it trains or scores: light constants, importable
without the models' libraries (the Dagster definitions name them in asset descriptions)."""

#: Repeat buyers (customers with purchases on two or more days) needed to fit BG/NBD + Gamma-Gamma
#: (ml/clv.py). With one or two, the BG/NBD dropout parameters run to the bounds of the penalty
#: (a or b near 0) rather than being estimated; from about ten the fitted parameters settle
#: (simulated customers).
MIN_REPEAT_BUYERS = 10

#: Days of registrations a channel needs before it is forecast (ml/workflows/forecast.py): two
#: weeks, so each weekday is seen twice for the day-of-week pattern.
MIN_FORECAST_HISTORY_DAYS = 14
