"""The changes a user can make to a load call that failed, each tried as its own real load.

A cell's verdict is that of the call users write, with its default arguments (``catalog.CALLS``):
``keras.models.load_model(path)`` compiles where the file holds a compile config, and has safe_mode
on where it takes one. When that call fails, :func:`first_working` tries the loader's changes
(``catalog.CHANGES``: ``compile=False``, then ``safe_mode=False``, then both) in this environment,
each loading the file afresh and predicting, and returns the first that loaded and matched: the
report then says ``works with: compile=False`` because that load was seen to work, not because a
hint guessed it. A change marked unsafe (``safe_mode=False``: code stored in the file runs) is
named so wherever it is shown.

Runs inside the environment under test (Python 3.7 syntax, standard library only).
"""
from catalog import CHANGES
from outcomes import guarded
from protocol import PASS, WORKS_WITH


def applicable(runtime, loader, call, change):
    """The keyword arguments of ``call`` (a dict: the user's own, or {} for the defaults) with
    ``change`` applied, or None where the change does not apply: the call already has it, or
    this Keras's ``loader`` takes no such argument (Keras 2.10's load_model has no safe_mode)."""
    kwargs = dict(call)
    kwargs.update(change.kwargs)
    if kwargs == dict(call) or not all(runtime.load_model_takes(name) for name in kwargs):
        return None
    return kwargs


def first_working(runtime, loader, call, load, judge, worked=PASS, unsafe=True):
    """Try the changes of ``loader``'s call in order, until one loads and its outputs match.

    Args:
        loader: the cell's loader (a key of ``catalog.CHANGES``).
        call: the keyword arguments of the call as written (a dict; {} for Keras's defaults).
        load: ``load(kwargs)`` loads the file afresh with those keyword arguments; may raise.
        judge: ``judge(loaded)`` predicts and compares: ``(outcome, None)``, where ``outcome["verdict"]``
            is ``pass`` or ``mismatch``, or ``(None, failure)`` with a verdict dict.
        worked: the outcome's verdict that makes a change work (``pass``; a check's source records
            its ``reference``).
        unsafe: whether unsafe changes may be tried: the matrix's own fixtures, yes; a user's file in a
            check, no (``safe_mode=False`` would run code stored in a file nobody vouched for: only
            ``--unsafe`` turns safe_mode off there).

    Returns:
        (the change that worked or None, its loaded object, its outcome, the tries): each try is
        ``{"change", "unsafe", "verdict", "max_abs", "error_type", "error_message"}`` (None where
        it does not apply), in the order tried; no try where no change applies.
    """
    tries = []
    for change in CHANGES.get(loader, ()):
        if change.unsafe and not unsafe:
            continue
        kwargs = applicable(runtime, loader, call, change)
        if kwargs is None:
            continue
        loaded, failure = guarded(lambda kwargs=kwargs: load(kwargs))
        outcome = None
        if failure is None:
            outcome, failure = judge(loaded)
        seen = failure or outcome
        tries.append({"change": change.name, "unsafe": change.unsafe, "verdict": seen["verdict"],
                      "max_abs": seen.get("max_abs"), "error_type": seen.get("error_type"),
                      "error_message": seen.get("error_message")})
        if failure is None and outcome["verdict"] == worked:
            return change, loaded, outcome, tries
    return None, None, None, tries


def with_changes(failure, change, outcome, tries):
    """The record of a call that failed (``failure``, its verdict dict) after its changes were tried:
    ``works-with`` where ``change`` worked (the call's error stays the record's; the outputs are the
    change's), else the call's own failure; ``workarounds`` lists the tries either way."""
    record = dict(failure, workarounds=tries)
    if change is not None:
        record.update(verdict=WORKS_WITH, works_with=change.name, unsafe_change=change.unsafe,
                      **dict((key, outcome.get(key)) for key in ("max_abs", "max_rel", "margin", "reason")))
    return record
