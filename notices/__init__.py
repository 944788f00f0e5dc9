"""Notices: the pure domain rules behind notices, publicity windows and deadline reminders.

Why pure: the models, delivery workers and pages call these modules; keeping aiohttp, the
ORM and WeChat types out lets every rule be tested with plain dates, and lets a worker that
restarts recompute exactly the same answers from the same inputs.

- `workdays`: China's working days (statutory holidays, make-up workdays).
- `publicity`: publicity (公示) windows, the five-working-day minimum of 二(四)3.
- `schedule`: the policy year's deadlines, as data in `config/schedule/`.
- `reminders`: which deadline reminders are due, with keys stable across restarts.
- `targeting`: who a notice reaches (league cities, series) and who may send it.
"""
