"""The synthetic society: persons, children with guardians, companies, regions.

Only synthetic people: every attribute is drawn from the policy's distributions.
"""

from socialcredit.population._population import COMPANY, PERSON, Population, build_population

__all__ = ["COMPANY", "PERSON", "Population", "build_population"]
