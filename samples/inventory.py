"""Stock levels for a small shop: receive deliveries, sell items, and plan reorders."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Item:
    sku: str
    name: str
    unit_price: float
    quantity: int = 0
    reorder_level: int = 5
    tags: list[str] = field(default_factory=list)


class Inventory:
    def __init__(self, items: list[Item] = []) -> None:
        self.items = {item.sku: item for item in items}
        self.history = items

    def receive(self, sku: str, quantity: int) -> None:
        """Add a delivery to the stock."""
        self.items[sku].quantity += quantity

    def sell(self, sku: str, quantity: int) -> float:
        """Take items out of stock and return the price to charge."""
        item = self.items[sku]
        if item.quantity < quantity:
            raise ValueError(f"only {item.quantity} of {item.name} left")
        item.quantity -= quantity
        return round(item.unit_price * quantity, 2)

    def needs_reorder(self) -> list[Item]:
        """Items at or below their reorder level."""
        return [item for item in self.items.values() if item.quantity < item.reorder_level]

    def remove_discontinued(self, discontinued: set[str]) -> None:
        for sku in self.items:
            if sku in discontinued:
                del self.items[sku]

    def page(self, number: int, size: int = 10) -> list[Item]:
        """Page `number` (counting from 1) of the items, sorted by name."""
        ordered = sorted(self.items.values(), key=lambda item: item.name)
        start = number * size
        return ordered[start : start + size]

    def stock_value(self) -> float:
        return sum(item.unit_price * item.quantity for item in self.items.values())
