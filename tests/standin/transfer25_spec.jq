# Validates one Cosmos-Transfer2.5 inference spec the way upstream's pydantic
# model InferenceArguments does (extra top-level keys forbidden, types,
# ranges).  Input: the spec object (CLI overrides already merged in).
# Output, one record per line, in pydantic's field order:
#   E <tab> LOC <tab> MESSAGE           a validation error
#   P <tab> LOC <tab> MESSAGE <tab> PATH  a file that must exist (MESSAGE is
#                                         the error to report if it does not)
#   C <tab> - <tab> MESSAGE             no control block: model_post_init's error,
#                                         reported only if nothing else is wrong

def short: if length > 100 then .[0:48] + "..." + .[-48:] else . end;
def pyrepr:
  if type == "string" then "'" + (gsub("\\\\"; "\\\\") | gsub("'"; "\\'") | gsub("\n"; "\\n") | gsub("\t"; "\\t")) + "'"
  elif type == "boolean" then (if . then "True" else "False" end)
  elif type == "null" then "None"
  elif type == "array" then "[" + (map(pyrepr) | join(", ")) + "]"
  elif type == "object" then "{" + (to_entries | map((.key | pyrepr) + ": " + (.value | pyrepr)) | join(", ")) + "}"
  else tostring end;
def pytype:
  if type == "string" then "str" elif type == "boolean" then "bool" elif type == "null" then "NoneType"
  elif type == "array" then "list" elif type == "object" then "dict" elif . == floor then "int" else "float" end;
def detail($type): " [type=\($type), input_value=\(pyrepr | short), input_type=\(pytype)]";
def err($loc; $msg; $type): "E\t\($loc)\t\($msg)\(detail($type))";

def str_field($loc):
  if type == "string" then empty else err($loc; "Input should be a valid string"; "string_type") end;
def int_field($loc):
  if type == "number" then
    (if . == floor then empty
     else err($loc; "Input should be a valid integer, got a number with a fractional part"; "int_from_float") end)
  elif type == "string" then
    (if test("^\\s*[-+]?[0-9]+\\s*$") then empty
     else err($loc; "Input should be a valid integer, unable to parse string as an integer"; "int_parsing") end)
  elif type == "boolean" then empty
  else err($loc; "Input should be a valid integer"; "int_type") end;
def as_number: if type == "string" then (tonumber? // null) elif type == "boolean" then (if . then 1 else 0 end) else . end;
# An int with optional bounds: $min/$max (null = none); $positive for PositiveInt.
def int_in($loc; $min; $max; $positive):
  [int_field($loc)] as $errors
  | if ($errors | length) > 0 then $errors[]
    else as_number as $n
      | if $positive and $n <= 0 then err($loc; "Input should be greater than 0"; "greater_than")
        elif $min != null and $n < $min then err($loc; "Input should be greater than or equal to \($min)"; "greater_than_equal")
        elif $max != null and $n > $max then err($loc; "Input should be less than or equal to \($max)"; "less_than_equal")
        else empty end
    end;
def weight($loc):
  (if type == "number" or type == "boolean" or type == "string" then as_number else null end) as $n
  | if $n == null then
      (if type == "string" then err($loc; "Input should be a valid number, unable to parse string as a number"; "float_parsing")
       else err($loc; "Input should be a valid number"; "float_type") end)
    elif $n < 0 then err($loc; "Input should be greater than or equal to 0"; "greater_than_equal")
    elif $n > 1 then err($loc; "Input should be less than or equal to 1"; "less_than_equal")
    else empty end;
def bool_field($loc):
  if type == "boolean" or . == 0 or . == 1 then empty else err($loc; "Input should be a valid boolean"; "bool_type") end;
def file_field($loc):
  if type == "string" then "P\t\($loc)\tPath does not point to a file\(detail("path_not_file"))\t\(.)"
  else err($loc; "Input is not a valid path"; "path_type") end;
def optional(f): if . == null then empty else f end;
def literal($loc; $choices; $text):
  . as $value
  | if any($choices[]; . == $value) then empty else err($loc; "Input should be \($text)"; "literal_error") end;
def threshold($loc):
  literal($loc; ["very_low", "low", "medium", "high", "very_high"];
    "'very_low', 'low', 'medium', 'high' or 'very_high'");

def control($key; $class; extra):
  .[$key] | optional(
    if type != "object" then err($key; "Input should be a valid dictionary or instance of \($class)"; "model_type")
    else
      (.control_path | optional(file_field("\($key).control_path"))),
      (if has("control_weight") then .control_weight | weight("\($key).control_weight") else empty end),
      (.mask_path | optional(file_field("\($key).mask_path"))),
      (.mask_prompt | optional(str_field("\($key).mask_prompt"))),
      extra
    end);

def required($key; f): if has($key) then .[$key] | f else err($key; "Field required"; "missing") end;

def known_keys: [
  "name", "prompt_path", "prompt", "negative_prompt", "seed", "guidance", "video_path", "max_frames",
  "context_frame_index", "image_context_path", "num_conditional_frames", "resolution", "sigma_max",
  "num_video_frames_per_chunk", "num_steps", "show_control_condition", "show_input", "keep_input_resolution",
  "edge", "depth", "vis", "seg", "guided_generation_mask", "guided_generation_step_threshold",
  "guided_generation_foreground_labels"];

def validate:
  required("name"; str_field("name")),
  (.prompt_path | optional(file_field("prompt_path"))),
  (if has("prompt") or has("prompt_path") then (.prompt | optional(str_field("prompt")))
   else err("prompt"; "Field required"; "missing") end),
  (.negative_prompt | optional(str_field("negative_prompt"))),
  (.seed | optional(int_in("seed"; null; null; false))),
  (.guidance | optional(int_in("guidance"; 0; 7; false))),
  required("video_path"; file_field("video_path")),
  (.max_frames | optional(int_in("max_frames"; null; null; true))),
  (.context_frame_index | optional(int_in("context_frame_index"; null; null; true))),
  (.image_context_path | optional(file_field("image_context_path"))),
  (.num_conditional_frames | optional(literal("num_conditional_frames"; [0, 1, 2]; "0, 1 or 2"))),
  (.resolution | optional(str_field("resolution"))),
  (.sigma_max | optional(str_field("sigma_max"))),
  (.num_video_frames_per_chunk | optional(int_in("num_video_frames_per_chunk"; null; null; true))),
  (.num_steps | optional(int_in("num_steps"; null; null; true))),
  (.show_control_condition | optional(bool_field("show_control_condition"))),
  (.show_input | optional(bool_field("show_input"))),
  (.keep_input_resolution | optional(bool_field("keep_input_resolution"))),
  control("edge"; "EdgeConfig"; .preset_edge_threshold | optional(threshold("edge.preset_edge_threshold"))),
  control("depth"; "DepthConfig"; empty),
  control("vis"; "BlurConfig"; .preset_blur_strength | optional(threshold("vis.preset_blur_strength"))),
  control("seg"; "SegConfig"; .control_prompt | optional(str_field("seg.control_prompt"))),
  (.guided_generation_step_threshold | optional(int_in("guided_generation_step_threshold"; null; null; false))),
  (known_keys as $known | to_entries[] | select(.key as $k | $known | index([$k]) | not)
   | .key as $key | .value | err($key; "Extra inputs are not permitted"; "extra_forbidden")),
  (if [.edge, .depth, .vis, .seg | select(. != null)] | length > 0 then empty
   else "C\t-\tValue error, No controls provided, please provide at least one control key (edge, blur, depth, seg)"
     + detail("value_error") end);

validate
