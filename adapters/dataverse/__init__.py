"""The Dataverse side (DESIGN §9): the Web API over HTTPS as an application user."""
