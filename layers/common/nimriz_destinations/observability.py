"""Powertools singletons: create once per execution environment, never per request."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
