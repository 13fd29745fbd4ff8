"""The Dataverse side: the Dataverse Web API (OData v4) as an application user.

See DESIGN §9 for the contract; ``side.py`` for the behaviour.
"""
