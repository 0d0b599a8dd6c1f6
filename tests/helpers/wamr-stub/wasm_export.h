/* Test stub: the declarations of WAMR's wasm_export.h that a sparrow bundle's main.c uses,
   with the signatures of WAMR's public API, so the generated C can be compiled without WAMR. */
#include <stdbool.h>
#include <stdint.h>
typedef struct WASMModuleCommon *wasm_module_t;
typedef struct WASMModuleInstanceCommon *wasm_module_inst_t;
typedef void *wasm_function_inst_t;
typedef struct WASMExecEnv *wasm_exec_env_t;
typedef enum { Alloc_With_Pool = 0, Alloc_With_Allocator, Alloc_With_System_Allocator } mem_alloc_type_t;
typedef union MemAllocOption { struct { void *heap_buf; uint32_t heap_size; } pool; } MemAllocOption;
typedef struct RuntimeInitArgs { mem_alloc_type_t mem_alloc_type; MemAllocOption mem_alloc_option; } RuntimeInitArgs;
bool wasm_runtime_full_init(RuntimeInitArgs *init_args);
wasm_module_t wasm_runtime_load(uint8_t *buf, uint32_t size, char *error_buf, uint32_t error_buf_size);
wasm_module_inst_t wasm_runtime_instantiate(const wasm_module_t module, uint32_t default_stack_size, uint32_t host_managed_heap_size, char *error_buf, uint32_t error_buf_size);
wasm_exec_env_t wasm_runtime_create_exec_env(wasm_module_inst_t module_inst, uint32_t stack_size);
wasm_function_inst_t wasm_runtime_lookup_function(const wasm_module_inst_t module_inst, const char *name);
bool wasm_runtime_call_wasm(wasm_exec_env_t exec_env, wasm_function_inst_t function, uint32_t argc, uint32_t argv[]);
const char *wasm_runtime_get_exception(wasm_module_inst_t module_inst);
void *wasm_runtime_addr_app_to_native(wasm_module_inst_t module_inst, uint64_t app_offset);
void wasm_runtime_destroy_exec_env(wasm_exec_env_t exec_env);
void wasm_runtime_deinstantiate(wasm_module_inst_t module_inst);
void wasm_runtime_unload(wasm_module_t module);
void wasm_runtime_destroy(void);
