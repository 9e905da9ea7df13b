"""Policy as code: a TOML file describes a whole social credit system.

`load_policy` validates a file; `compile_policy` turns a policy into the arrays the
engine runs; `explain` prints it in plain words; `json_schema` is the format for editors.
"""

from socialcredit.policy._load import load_policy, parse_policy, policy_from_dict
from socialcredit.policy._model import Policy
from socialcredit.policy._overrides import policy_toml

__all__ = ["Policy", "load_policy", "parse_policy", "policy_from_dict", "policy_toml"]
