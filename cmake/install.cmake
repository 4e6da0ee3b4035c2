# cmake --install: the programs, the systemd unit, the configuration, and
# the fragments that make the vmgate user, its groups and its directories,
# each where GNUInstallDirs and systemd put them. With the prefix /usr the
# systemd directories are systemd's own (pkg-config systemd: /lib/systemd
# on Debian 12, /usr/lib/systemd on 13); with any other prefix they go under
# it, so a local install never writes outside its prefix.

install(TARGETS vmgated RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS vmgatectl RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS vmgate-shot RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Empty means "as above"; set one to place that file elsewhere.
set(VMGATE_SYSTEMD_UNITDIR "" CACHE PATH "Where the systemd unit goes (empty: systemd's)")
set(VMGATE_SYSUSERSDIR "" CACHE PATH "Where the sysusers.d fragment goes (empty: systemd's)")
set(VMGATE_TMPFILESDIR "" CACHE PATH "Where the tmpfiles.d fragment goes (empty: systemd's)")
set(_vg_unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
set(_vg_sysusersdir "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d")
set(_vg_tmpfilesdir "${CMAKE_INSTALL_PREFIX}/lib/tmpfiles.d")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  pkg_check_modules(SYSTEMD QUIET systemd)
  if(SYSTEMD_FOUND)
    pkg_get_variable(_vg_unitdir systemd systemdsystemunitdir)
    pkg_get_variable(_vg_sysusersdir systemd sysusersdir)
    pkg_get_variable(_vg_tmpfilesdir systemd tmpfilesdir)
  endif()
endif()
foreach(_d SYSTEMD_UNITDIR SYSUSERSDIR TMPFILESDIR)
  if(VMGATE_${_d})
    string(TOLOWER "${_d}" _l)
    string(REPLACE "systemd_" "" _l "${_l}")
    set(_vg_${_l} "${VMGATE_${_d}}")
  endif()
endforeach()

set(_vg_daemon ${PROJECT_SOURCE_DIR}/server/daemon)
configure_file(${_vg_daemon}/vmgated.service.in ${PROJECT_BINARY_DIR}/vmgated.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/vmgated.service DESTINATION ${_vg_unitdir})
install(FILES ${_vg_daemon}/vmgate.sysusers DESTINATION ${_vg_sysusersdir} RENAME vmgate.conf)
install(FILES ${_vg_daemon}/vmgate.tmpfiles DESTINATION ${_vg_tmpfilesdir} RENAME vmgate.conf)
install(FILES ${_vg_daemon}/vmgated.logrotate
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d RENAME vmgated)
# Every key with its default, commented out: the configuration to start from.
# An existing one is kept (a package manager handles it as a conffile anyway).
install(FILES ${_vg_daemon}/vmgated.conf.sample DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(CODE "
  set(_conf \"\$ENV{DESTDIR}${CMAKE_INSTALL_FULL_SYSCONFDIR}/vmgate/vmgated.conf\")
  if(EXISTS \"\${_conf}\")
    message(STATUS \"Kept: \${_conf}\")
  else()
    file(INSTALL \"${_vg_daemon}/vmgated.conf.sample\"
         DESTINATION \"${CMAKE_INSTALL_FULL_SYSCONFDIR}/vmgate\"
         RENAME vmgated.conf)
  endif()")
