from apps.core.errors import HyditeError


class ExportsBusy(HyditeError):
    status, code = 429, "exports_busy"
