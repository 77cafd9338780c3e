"""Store naming: from linked services and datasets to the assets Purview's scanners create."""

from lineage.extract.stores.datasets import Location, asset, copied_asset, location, sql_table_asset
from lineage.extract.stores.linked_services import Endpoint, StoreSettings, endpoint
from lineage.extract.stores.naming import ASSET_TYPES, Asset, StoreError

__all__ = ["ASSET_TYPES", "Asset", "Endpoint", "Location", "StoreError", "StoreSettings", "asset", "copied_asset",
           "endpoint", "location", "sql_table_asset"]
