"""The fleet: device model, inventory files (benchlab YAML or Ansible YAML), selectors."""

from inventory.loader import inventory_path, load_inventory
from inventory.model import Device, Inventory
from inventory.selectors import select
from inventory.yamlsrc import InventoryError

__all__ = ["Device", "Inventory", "InventoryError", "inventory_path", "load_inventory", "select"]
