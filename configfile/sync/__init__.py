"""Config as code: export the database as a VigilConfig, and apply one back (plan, dry run, prune).

Each section has a reader (a model object -> its config item, `read.py`) and a writer (a
config item -> the model object, through the same services the admin and the API use,
`write_<app>.py`). The plan (`compare.py`) is the difference between what the readers say
of the database and what the file says, so an export imported again plans nothing.
`apply.py` runs the writers in one transaction.
"""

from configfile.sync.apply import apply
from configfile.sync.compare import Change, Plan, plan
from configfile.sync.read import dump, export

__all__ = ["Change", "Plan", "apply", "dump", "export", "plan"]
