"""Print resource.k8s.io/v1 values the way the API server's field errors do: the Go struct
marshalled with its Go field names, nil pointers/slices as null, embedded structs inlined.

Type notation: "str", "int", "raw" (JSON passed through), "time", "map" (JSON object as is),
"*T" (pointer: null when absent), "[]T" (slice: null when absent), "T" (struct, {} fields
zero-valued when absent), "E:T" (embedded struct, fields inlined into the parent).
"""

from sim_errors import go_json

STRUCTS = {
    "ResourceClaimSpec": [("devices", "Devices", "DeviceClaim")],
    "DeviceClaim": [("requests", "Requests", "[]DeviceRequest"),
                    ("constraints", "Constraints", "[]DeviceConstraint"),
                    ("config", "Config", "[]DeviceClaimConfiguration")],
    "DeviceRequest": [("name", "Name", "str"), ("exactly", "Exactly", "*ExactDeviceRequest"),
                      ("firstAvailable", "FirstAvailable", "[]DeviceSubRequest")],
    "ExactDeviceRequest": [("deviceClassName", "DeviceClassName", "str"),
                           ("selectors", "Selectors", "[]DeviceSelector"),
                           ("allocationMode", "AllocationMode", "str"), ("count", "Count", "int"),
                           ("adminAccess", "AdminAccess", "*bool"),
                           ("tolerations", "Tolerations", "[]DeviceToleration"),
                           ("capacity", "Capacity", "*CapacityRequirements")],
    "DeviceSubRequest": [("name", "Name", "str"), ("deviceClassName", "DeviceClassName", "str"),
                         ("selectors", "Selectors", "[]DeviceSelector"),
                         ("allocationMode", "AllocationMode", "str"), ("count", "Count", "int"),
                         ("tolerations", "Tolerations", "[]DeviceToleration"),
                         ("capacity", "Capacity", "*CapacityRequirements")],
    "CapacityRequirements": [("requests", "Requests", "map")],
    "DeviceSelector": [("cel", "CEL", "*CELDeviceSelector")],
    "CELDeviceSelector": [("expression", "Expression", "str")],
    "DeviceToleration": [("key", "Key", "str"), ("operator", "Operator", "str"),
                         ("value", "Value", "str"), ("effect", "Effect", "str"),
                         ("tolerationSeconds", "TolerationSeconds", "*int")],
    "DeviceConstraint": [("requests", "Requests", "[]str"),
                         ("matchAttribute", "MatchAttribute", "*str"),
                         ("distinctAttribute", "DistinctAttribute", "*str")],
    "DeviceClaimConfiguration": [("requests", "Requests", "[]str"),
                                 (None, None, "E:DeviceConfiguration")],
    "DeviceConfiguration": [("opaque", "Opaque", "*OpaqueDeviceConfiguration")],
    "OpaqueDeviceConfiguration": [("driver", "Driver", "str"), ("parameters", "Parameters", "raw")],
    "AllocationResult": [("devices", "Devices", "DeviceAllocationResult"),
                         ("nodeSelector", "NodeSelector", "*NodeSelector"),
                         ("allocationTimestamp", "AllocationTimestamp", "*time")],
    "DeviceAllocationResult": [("results", "Results", "[]DeviceRequestAllocationResult"),
                               ("config", "Config", "[]DeviceAllocationConfiguration")],
    "DeviceRequestAllocationResult": [
        ("request", "Request", "str"), ("driver", "Driver", "str"), ("pool", "Pool", "str"),
        ("device", "Device", "str"), ("adminAccess", "AdminAccess", "*bool"),
        ("tolerations", "Tolerations", "[]DeviceToleration"),
        ("bindingConditions", "BindingConditions", "[]str"),
        ("bindingFailureConditions", "BindingFailureConditions", "[]str"),
        ("shareID", "ShareID", "*str"), ("consumedCapacity", "ConsumedCapacity", "*map")],
    "DeviceAllocationConfiguration": [("source", "Source", "str"),
                                      ("requests", "Requests", "[]str"),
                                      (None, None, "E:DeviceConfiguration")],
    "NodeSelector": [("nodeSelectorTerms", "NodeSelectorTerms", "[]NodeSelectorTerm")],
    "NodeSelectorTerm": [("matchExpressions", "MatchExpressions", "[]NodeSelectorRequirement"),
                         ("matchFields", "MatchFields", "[]NodeSelectorRequirement")],
    "NodeSelectorRequirement": [("key", "Key", "str"), ("operator", "Operator", "str"),
                                ("values", "Values", "[]str")],
    "DeviceAttribute": [("int", "IntValue", "*int"), ("bool", "BoolValue", "*bool"),
                        ("string", "StringValue", "*str"), ("version", "VersionValue", "*str"),
                        ("ints", "IntValues", "[]int"), ("bools", "BoolValues", "[]bool"),
                        ("strings", "StringValues", "[]str"),
                        ("versions", "VersionValues", "[]str")],
    "SharedDeviceID": [("driver", "Driver", "str"), ("pool", "Pool", "str"),
                       ("device", "Device", "str"), ("shareID", "ShareID", "str")],
}

_ZERO = {"str": "", "int": 0, "bool": False, "time": None, "raw": None, "map": None}


def to_go(typ, value):
    """Convert a JSON value to the ordered structure json.Marshal would emit for the Go type."""
    if typ.startswith("*"):
        return None if value is None else to_go(typ[1:], value)
    if typ.startswith("[]"):
        if value is None:
            return None
        return [to_go(typ[2:], v) for v in value]
    if typ in _ZERO:
        return _ZERO[typ] if value is None else value
    fields = STRUCTS[typ]
    value = value or {}
    out = {}
    for jname, gname, ftyp in fields:
        if ftyp.startswith("E:"):
            out.update(to_go(ftyp[2:], value))
        else:
            out[gname] = to_go(ftyp, value.get(jname))
    return out


def go_struct(typ, value):
    return go_json(to_go(typ, value))
