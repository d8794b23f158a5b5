"""The wire contract shared by the edge agent and the central service.

Both packages import these models and topic helpers; neither defines its own copy,
so a change to the contract is a change in exactly one place.
"""
