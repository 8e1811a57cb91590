# hostdev-kubelet-plugin: the DRA node daemon. Included from the top-level CMakeLists.txt after
# every module folder, so it can link all of them.
set(kpd ${CMAKE_SOURCE_DIR}/kubeletplugin)
add_library(hostdev_kpd STATIC ${kpd}/checkpoint.c ${kpd}/opaque.c ${kpd}/driver.c
            ${kpd}/dra_service.c ${kpd}/metrics.c)
target_link_libraries(hostdev_kpd PUBLIC hostdev_kp hostdev_rpc hostdev_proto hostdev_base
                      PkgConfig::MHD)
hd_add_unit_test(test_checkpoint hostdev_kpd)
hd_add_unit_test(test_driver hostdev_kpd)

# The parts that talk to the API server.
if(TARGET hostdev_kube)
        target_sources(hostdev_kpd PRIVATE ${kpd}/slice_publisher.c ${kpd}/health.c
                       ${kpd}/plugin.c)
        target_link_libraries(hostdev_kpd PUBLIC hostdev_kube)
        add_executable(hostdev-kubelet-plugin ${kpd}/plugin_main.c)
        target_link_libraries(hostdev-kubelet-plugin PRIVATE hostdev_kpd)
endif()
