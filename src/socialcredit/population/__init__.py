"""The synthetic society: persons, children with guardians, companies, regions.

Only synthetic people: every attribute is drawn from the policy's distributions.
"""

from socialcredit.population._population import (
    COMPANY,
    PERSON,
    Population,
    block_range,
    build_block,
    build_population,
    join_blocks,
    n_blocks,
)

__all__ = ["COMPANY", "PERSON", "Population", "block_range", "build_block", "build_population",
           "join_blocks", "n_blocks"]
