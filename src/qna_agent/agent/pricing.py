"""What a turn costs: tokens times the configured price per million tokens.

Costs are integers in micro-units of the currency (1 USD = 1,000,000), so sums are exact. With
prices per million tokens, the cost in micro-units is simply tokens x price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qna_agent.agent.types import Usage


@dataclass(frozen=True, slots=True)
class Price:
    """Currency units per million tokens."""

    prompt: float
    completion: float


class PriceTable:
    """Prices by model name. A dated variant (`gpt-4o-mini-2024-07-18`) uses its base's price."""

    def __init__(self, prices: Mapping[str, Mapping[str, float]], currency: str = "USD") -> None:
        self.currency = currency
        self._prices = {
            name: Price(price["prompt"], price["completion"]) for name, price in prices.items()
        }

    def price(self, model: str) -> Price | None:
        """The price of `model`: an exact entry, else the longest `name-` prefix."""
        if model in self._prices:
            return self._prices[model]
        bases = [name for name in self._prices if model.startswith(f"{name}-")]
        return self._prices[max(bases, key=len)] if bases else None

    def cost_micros(self, model: str, usage: Usage) -> int:
        """The cost of `usage` on `model` in micro-units; 0 for a model without a price."""
        price = self.price(model)
        if price is None:
            return 0
        return round(
            usage.prompt_tokens * price.prompt + usage.completion_tokens * price.completion
        )
