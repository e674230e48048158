"""OpenAPI links: which values of an answer fill which operation's parameters next.

/docs shows them under each answer, and tools follow them (schemathesis's stateful tests chain calls by
them). Only links a client would follow as given: an operation that also needs something the answer does
not hold (a trial to tell lies in the body, the best trial may not exist yet) is linked from the answers
that make it meaningful.
"""

from __future__ import annotations

from typing import Any

NAME_IN_ANSWER = "$response.body#/name"
NAME_IN_PATH = "$request.path.name"


def link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "description": description,
            "parameters": {f"path.{name}": expression for name, expression in parameters.items()}}


def _study(name: str, *operations: str) -> dict[str, Any]:
    what = {"get_study": "Read the study", "ask": "Ask for its trials", "list_trials": "List its trials",
            "add_trials": "Enqueue or import its trials", "get_best": "Its best trial",
            "get_study_audit": "Who made it and its trials", "delete_study": "Delete it"}
    return {"".join(part.capitalize() for part in op.split("_")): link(op, what[op], name=name) for op in operations}


def _trial(number: str, *operations: str) -> dict[str, Any]:
    what = {"get_trial": "Read the trial", "heartbeat": "Keep the trial's lease",
            "report": "Report an intermediate value of the trial"}
    return {"".join(part.capitalize() for part in op.split("_")): link(op, what[op], name=NAME_IN_PATH,
                                                                         number=number)
            for op in operations}


TELL = {"Tell": link("tell", "Tell a trial's result (its number goes in the body)", name=NAME_IN_PATH)}
#: A study just created (or found identical).
CREATED_STUDY = _study(NAME_IN_ANSWER, "get_study", "ask", "list_trials", "add_trials", "get_study_audit",
                       "delete_study")
STUDY = _study(NAME_IN_ANSWER, "ask", "list_trials", "add_trials", "get_best", "delete_study")
STUDIES = _study("$response.body#/studies/0/name", "get_study")
ASKED = {**_trial("$response.body#/trials/0/number", "get_trial", "heartbeat", "report"), **TELL}
TRIALS = ASKED
IMPORTED = _trial("$response.body#/imported/0/number", "get_trial")
TRIAL = {**_trial("$response.body#/number", "get_trial", "heartbeat", "report"), **TELL}
KEY = {"RevokeKey": link("revoke_key", "Revoke the key", key_id="$response.body#/key_id")}
KEYS = {"RevokeKey": link("revoke_key", "Revoke the key", key_id="$response.body#/keys/0/key_id")}


def responses(status: int, links: dict[str, Any]) -> dict[str, Any]:
    """For `blp.doc(**responses(201, links.ASKED))`."""
    return {"responses": {status: {"links": links}}}
