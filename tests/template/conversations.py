"""The conversations every chat template is rendered on (by us and by the
reference). Plain JSON data: numbers with a fraction are floats, others
ints (the convention of ia__jinja_render). Named so a failure says which."""
import json

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city, in \"degrees\" <C or F>.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city's name, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"},
                "days": {"type": "integer", "description": "How many days", "default": 1},
            },
            "required": ["city"],
        },
    }},
    {"type": "function", "function": {
        "name": "search",
        "description": "Search the web.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "What to look for"}},
                       "required": ["query"]},
    }},
]

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
USER1 = {"role": "user", "content": "Hello! How are you?"}
ASSIST1 = {"role": "assistant", "content": "I'm fine, thanks. How can I help?"}
USER2 = {"role": "user", "content": "What's 2 + 2?\nAnswer briefly."}
ASSIST2 = {"role": "assistant", "content": "4"}

TOOL_CALL = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "abc123DEF", "type": "function",
     "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2, "unit": "celsius"}}}]}
TOOL_RESULT = {"role": "tool", "tool_call_id": "abc123DEF", "name": "get_weather",
               "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}"}
TOOL_CALL_STR = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "xyz789GHI", "type": "function",
     "function": {"name": "search", "arguments": "{\"query\": \"jinja2 \\\"chat\\\" templates\"}"}}]}
TOOL_RESULT_STR = {"role": "tool", "tool_call_id": "xyz789GHI", "name": "search", "content": "No results."}

CONVERSATIONS = [
    ("system_user_gen", {"messages": [SYSTEM, USER1], "add_generation_prompt": True}),
    ("system_user", {"messages": [SYSTEM, USER1], "add_generation_prompt": False}),
    ("user_gen", {"messages": [USER1], "add_generation_prompt": True}),
    ("multi_turn_gen", {"messages": [SYSTEM, USER1, ASSIST1, USER2], "add_generation_prompt": True}),
    ("multi_turn_no_system", {"messages": [USER1, ASSIST1, USER2, ASSIST2], "add_generation_prompt": False}),
    ("tools_listed", {"messages": [SYSTEM, USER1], "tools": TOOLS, "add_generation_prompt": True}),
    ("tools_no_system", {"messages": [USER2], "tools": TOOLS, "add_generation_prompt": True}),
    ("tool_call_and_result", {"messages": [
        SYSTEM, {"role": "user", "content": "Weather in Paris?"}, TOOL_CALL, TOOL_RESULT,
        {"role": "assistant", "content": "It is 21.5 degrees and clear."}, USER2],
        "tools": TOOLS, "add_generation_prompt": True}),
    ("tool_call_string_args", {"messages": [
        {"role": "user", "content": "Search for jinja2."}, TOOL_CALL_STR, TOOL_RESULT_STR],
        "tools": TOOLS, "add_generation_prompt": True}),
    ("content_lists", {"messages": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Describe "}, {"type": "text", "text": "this."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "It is a picture."}]},
        {"role": "user", "content": [{"type": "text", "text": "Thanks!"}]}],
        "add_generation_prompt": True}),
    ("unicode_and_markup", {"messages": [
        {"role": "system", "content": "  Réponds en français. <b>\"quoted\"</b> & 'single' \\ tab\there  "},
        {"role": "user", "content": "日本語のテキスト 🚀\n\n  indented line\r\nwindows line"},
        {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nD'accord !"},
        {"role": "user", "content": "{{ not a template }} {% neither %}"}],
        "add_generation_prompt": True}),
    ("reasoning", {"messages": [
        USER1, {"role": "assistant", "content": "Fine.", "reasoning_content": "The user greets me."}, USER2],
        "add_generation_prompt": True, "enable_thinking": False}),
    # Tools as bare function schemas (Cohere's newer format reads them so),
    # and the extra variables some templates take (firefunction-v2's).
    ("flat_tools", {"messages": [SYSTEM, USER2], "tools": [t["function"] for t in TOOLS],
                    "add_generation_prompt": True}),
    ("extra_variables", {"messages": [USER1, ASSIST1, USER2], "add_generation_prompt": True,
                         "functions": json.dumps([t["function"] for t in TOOLS], indent=2),
                         "datetime": "2024-07-26", "date_string": "26 Jul 2024"}),
    ("not_alternating", {"messages": [USER1, USER2], "add_generation_prompt": True}),
    ("empty", {"messages": [], "add_generation_prompt": True}),
]

# Variables every conversation gets in addition (transformers passes the
# tokenizer's special tokens this way).
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}
